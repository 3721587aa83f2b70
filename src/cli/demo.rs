//! `zeugnis demo`: the first hour in one command.
//!
//! Owns: making a demo folder (a fresh temporary one, or `--data DIR` if
//! it is empty or absent) with its own configuration, admin token and
//! ledger; registering a handful of sample certificates (German and
//! English, grade records from shipped rule sets) through the same
//! [`Registry`] the daemon uses; printing their cover sheets; running them
//! through the real scan intake as printed-and-scanned pages (one scanned
//! PDF per certificate: its cover sheet first, then the printed
//! certificate, rendered by [`crate::scans::simulate`]); revoking one and
//! superseding one; making a desk account (user [`DESK_USER`], a random
//! password); then running the real daemon ([`crate::daemon::run`]) on the
//! usual addresses (or free ones, or `--listen`) and printing, for each
//! state, the verification URL without and with the access key, the admin
//! API and web desk addresses with the desk's user name and password, and
//! what to try next. Ctrl-C (SIGINT) ends it and says where the data is.
//! Must not do: touch anything outside its folder, or take a shortcut
//! around the registry, the intake or the daemon (the demo shows the real
//! system, not a mock of it).

use super::STDOUT_FAILED;
use crate::config::Config;
use crate::registry::{DocumentFile, Issued, RegistrationRecord, Registry};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The origin (log name) of a demo ledger: it names no real institution.
pub const DEMO_ORIGIN: &str = "demo.zeugnis.example/zeugnis/1";
/// The usual public address, used when it is free.
const PUBLIC_ADDR_USUAL: &str = "127.0.0.1:8080";
/// The usual admin address, used when it is free.
const ADMIN_ADDR_USUAL: &str = "127.0.0.1:8081";
/// Longest wait for the daemon's public listener to accept connections.
const READY_WAIT_MS_MAX: u64 = 120_000;
/// Poll interval while waiting for the listener.
const READY_POLL_MS: u64 = 50;
/// Resolution of the simulated scans (a common office-scanner setting).
const SCAN_DPI: f32 = 200.0;
/// Bytes of randomness in the demo's admin token (hex: twice as many characters).
const ADMIN_TOKEN_BYTES: usize = 32;
/// User name of the demo's web-desk account (docs/desk.md).
pub const DESK_USER: &str = "demo";
/// Characters of the desk account's password: random letters and digits
/// (about 95 bits), new for every demo, printed and kept in `desk.password`.
const DESK_PASSWORD_CHARS: usize = 16;
/// Salt-and-pepper noise of the simulated scans, in percent of the pixels.
const SCAN_NOISE_PERCENT: u64 = 1;

/// `zeugnis demo` arguments (the folder is the global `--data`).
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Public address of the verification service (default 127.0.0.1:8080
    /// if free, else a free port; port 0: a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Admin address (default 127.0.0.1:8081 if free, else a free port;
    /// port 0: a free port).
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
}

/// Why the demo could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The folder given with `--data` is in use.
    #[error("--data {path}: not empty; give a new or empty folder (the demo makes its own ledger there)")]
    NotEmpty {
        /// The folder.
        path: PathBuf,
    },
    /// A file of the demo folder could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No address to listen on.
    #[error("listen address {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A step of the real system failed (registry, intake, configuration, daemon).
    #[error("{step}: {message}")]
    Step {
        /// What the demo was doing.
        step: &'static str,
        /// The error of the component.
        message: String,
        /// Its exit code.
        exit: i32,
    },
}

impl DemoError {
    /// 2 for a folder or address the user gave, else the component's code.
    pub fn exit_code(&self) -> i32 {
        match self {
            DemoError::NotEmpty { .. } | DemoError::Listen { .. } => 2,
            DemoError::Io { .. } => 1,
            DemoError::Step { exit, .. } => *exit,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn step<E: std::fmt::Display>(step: &'static str, exit: i32) -> impl FnOnce(E) -> DemoError {
    move |e| DemoError::Step {
        step,
        message: e.to_string(),
        exit,
    }
}

/// Runs the demo; returns the exit code. Output: the story on stdout, the
/// daemon's log on stderr.
pub fn run(folder: Option<&Path>, args: DemoArgs) -> i32 {
    match demo(folder, &args) {
        Ok(()) => 0,
        Err(e) => {
            let code = e.exit_code();
            let _ = std::io::Write::flush(&mut std::io::stdout());
            eprintln!("zeugnis demo: error: {e}");
            code
        }
    }
}

/// One sample certificate: the registration record, its document texts,
/// and what the demo does with it.
struct Sample {
    /// Short label in the output.
    label: &'static str,
    record: Value,
    /// Lines of the digital image(s): one list per language version.
    documents: Vec<Vec<String>>,
    /// Scanned before the daemon starts.
    scanned: bool,
    /// Its state when the daemon starts.
    state: &'static str,
}

fn m(id: &str, lp: &str, grade: &str) -> Value {
    json!({"id": id, "lp": lp, "grade": grade, "mandatory": true})
}

fn samples() -> Vec<Sample> {
    let holder = |given: &str, family: &str, birth: &str, place: &str, id: &str| {
        json!({"given_name": given, "family_name": family, "birth_date": birth,
               "birth_place": place, "student_id": id})
    };
    vec![
        Sample {
            label: "Bachelor transcript (German and English), scanned: valid",
            record: json!({"institution": "Universität Erfurt", "kind": "transcript", "language": "de",
                "holder": holder("Erika", "Mustermann", "2001-02-28", "Gotha", "E-104711"),
                "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften – Sozialwissenschaften"},
                "last_exam_date": "2026-07-15",
                "grades": {"ruleset": "erfurt-ba-2019", "parts": [
                    {"id": "Hauptrichtung", "required_lp": "60", "modules": [
                        m("SW-101 Politische Theorie", "20", "1.3"),
                        m("SW-102 Empirische Sozialforschung", "20", "2.0"),
                        m("SW-201 Vergleichende Politik", "20", "1.7")]},
                    {"id": "Nebenrichtung", "required_lp": "30", "modules": [
                        m("RW-101 Öffentliches Recht", "20", "2.3"),
                        m("RW-102 Europarecht", "10", "1.7")]},
                    {"id": "Bachelorarbeit", "required_lp": "12", "modules": [
                        {"id": "BA-Arbeit", "lp": "12", "grade": "1.3", "mandatory": true}]}]}}),
            documents: vec![
                vec![
                    "Universität Erfurt".into(),
                    "Zeugnis über die Bachelorprüfung".into(),
                    "Frau Erika Mustermann, geboren am 28.02.2001 in Gotha,".into(),
                    "hat die Bachelorprüfung im Studiengang Staatswissenschaften bestanden.".into(),
                ],
                vec![
                    "University of Erfurt".into(),
                    "Transcript of the Bachelor examination".into(),
                    "Ms Erika Mustermann, born 28 February 2001 in Gotha,".into(),
                    "passed the Bachelor examination in Political and Social Sciences.".into(),
                ],
            ],
            scanned: true,
            state: "valid",
        },
        Sample {
            label: "Master of Education degree deed, scanned, then revoked",
            record: json!({"institution": "Universität Erfurt", "kind": "degree_deed", "language": "de",
                "holder": holder("Jonas", "Becker", "1999-11-03", "Erfurt", "E-098812"),
                "programme": {"degree": "Master of Education", "name": "Lehramt an Grundschulen"},
                "last_exam_date": "2026-03-31",
                "grades": {"ruleset": "erfurt-med-2019", "parts": [
                    {"id": "Bildungswissenschaften", "required_lp": "30", "modules": [
                        m("BW-1 Schulpädagogik", "15", "1.7"), m("BW-2 Diagnostik", "15", "2.3")]},
                    {"id": "Fachdidaktik", "required_lp": "30", "modules": [
                        m("FD-1 Deutsch", "15", "1.3"), m("FD-2 Mathematik", "15", "2.0")]}]}}),
            documents: vec![vec![
                "Universität Erfurt".into(),
                "Urkunde".into(),
                "Herr Jonas Becker hat den Grad Master of Education erworben.".into(),
            ]],
            scanned: true,
            state: "revoked",
        },
        Sample {
            label: "continuing-education certificate (English), scanned, then superseded",
            record: json!({"institution": "Universität Potsdam", "kind": "certificate", "language": "en",
                "holder": holder("Amelia", "Clark", "1990-06-12", "Bristol", "P-55120"),
                "programme": {"degree": "Certificate of Advanced Study", "name": "Data Literacy"},
                "last_exam_date": "2026-09-30",
                "grades": {"ruleset": "potsdam-scale-2025", "parts": [
                    {"id": "Modules", "required_lp": "10", "modules": [
                        m("DL-1 Statistics", "5", "1.7"), m("DL-2 Visualisation", "5", "1.3")]}]}}),
            documents: vec![vec![
                "University of Potsdam".into(),
                "Certificate of Advanced Study".into(),
                "Ms Amelia Clark has completed the programme Data Literacy.".into(),
            ]],
            scanned: true,
            state: "superseded",
        },
        Sample {
            label: "Magister degree deed, registered, scan not yet in: awaiting its scan",
            record: json!({"institution": "Universität Erfurt", "kind": "degree_deed", "language": "de",
                "holder": holder("Matthias", "Weber", "1997-04-21", "Heiligenstadt", "E-077301"),
                "programme": {"degree": "Magister Theologiae", "name": "Katholische Theologie"},
                "last_exam_date": "2026-06-30",
                "grades": {"ruleset": "erfurt-magister", "parts": [
                    {"id": "modules", "required_lp": "96", "modules": [
                        m("K1", "48", "1.3"), m("K2", "48", "2.0")]},
                    {"id": "thesis", "required_lp": "24", "modules": [m("MA", "24", "1.7")]},
                    {"id": "oral", "required_lp": "48", "modules": [m("AP", "48", "2.3")]}]}}),
            documents: vec![vec![
                "Universität Erfurt".into(),
                "Magisterurkunde".into(),
                "Herr Matthias Weber hat den Grad Magister Theologiae erworben.".into(),
            ]],
            scanned: false,
            state: "awaiting_scan",
        },
    ]
}

/// A one-page A4 PDF with the lines in Helvetica (the sample's digital image).
fn text_pdf(lines: &[String]) -> Vec<u8> {
    let mut content = String::from("BT /F1 14 Tf 72 760 Td 20 TL\n");
    for l in lines {
        content.push('(');
        for ch in l.chars() {
            match ch {
                '(' | ')' | '\\' => {
                    content.push('\\');
                    content.push(ch);
                }
                // WinAnsiEncoding: Latin-1 characters as octal escapes.
                c if (c as u32) < 0x80 => content.push(c),
                c if (c as u32) < 0x100 => {
                    let _ = write!(content, "\\{:03o}", c as u32);
                }
                '–' => content.push('-'),
                _ => content.push('?'),
            }
        }
        content.push_str(") Tj T*\n");
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_string(),
    ];
    let mut pdf = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        let _ = write!(pdf, "{} 0 obj\n{o}\nendobj\n", i + 1);
    }
    let xref = pdf.len();
    let _ = write!(pdf, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for o in offsets {
        let _ = writeln!(pdf, "{o:010} 00000 n ");
    }
    let _ = write!(
        pdf,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    pdf.into_bytes()
}

/// The address to listen on: the one given (port 0: a free one), else the
/// usual one if it is free, else a free one. The port is found by binding
/// and releasing it; the daemon binds it again a moment later.
fn pick(given: Option<SocketAddr>, usual: &str) -> Result<(SocketAddr, bool), DemoError> {
    let usual: SocketAddr = usual.parse().expect("a valid constant address");
    let wanted = given.unwrap_or(usual);
    match TcpListener::bind(wanted) {
        Ok(l) => {
            let addr = l.local_addr().map_err(|source| DemoError::Listen {
                addr: wanted,
                source,
            })?;
            Ok((addr, given.is_none() || wanted.port() == 0))
        }
        Err(source) if given.is_some() => Err(DemoError::Listen {
            addr: wanted,
            source,
        }),
        Err(_) => {
            let any = SocketAddr::new(usual.ip(), 0);
            let l =
                TcpListener::bind(any).map_err(|source| DemoError::Listen { addr: any, source })?;
            let addr = l
                .local_addr()
                .map_err(|source| DemoError::Listen { addr: any, source })?;
            Ok((addr, false))
        }
    }
}

/// The demo folder: `--data` (new or empty) or a fresh one under the
/// system's temporary directory.
fn folder(given: Option<&Path>) -> Result<PathBuf, DemoError> {
    let dir = match given {
        Some(p) => {
            if p.exists() && std::fs::read_dir(p).map_err(io(p))?.next().is_some() {
                return Err(DemoError::NotEmpty {
                    path: p.to_path_buf(),
                });
            }
            p.to_path_buf()
        }
        None => std::env::temp_dir().join(format!(
            "zeugnis-demo-{}-{}",
            crate::dates::today_utc(),
            std::process::id()
        )),
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    std::path::absolute(&dir).map_err(io(&dir))
}

/// Writes a file with mode 0600 (the admin token).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DemoError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), DemoError> {
    std::fs::write(path, bytes).map_err(io(path))
}

/// What the demo made, for the closing guide.
struct Made {
    label: &'static str,
    /// The state the verification page shows.
    state: &'static str,
    issued: Issued,
    language: String,
}

fn demo(given: Option<&Path>, args: &DemoArgs) -> Result<(), DemoError> {
    let dir = folder(given)?;
    let data = dir.join("ledger");
    let scans = dir.join("scans");
    let samples_dir = dir.join("samples");
    std::fs::create_dir_all(&samples_dir).map_err(io(&samples_dir))?;
    let (public, public_usual) = pick(args.listen, PUBLIC_ADDR_USUAL)?;
    let (admin, admin_usual) = pick(args.admin_listen, ADMIN_ADDR_USUAL)?;
    let base_url = format!("http://{public}");
    let token: String = (0..ADMIN_TOKEN_BYTES)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    write_private(&dir.join("admin.token"), token.as_bytes())?;
    let config_path = dir.join("zeugnis.toml");
    let config = format!(
        "# Written by `zeugnis demo` (docs/configuration.md); paths are relative to this file.\n\
         data = \"ledger\"\nscans = \"scans\"\nbase_url = \"{base_url}\"\n\n\
         [intake]\nstable_ms = 500\nrescan_secs = 5\n\n\
         [report]\ninterval_secs = 0\n\n\
         [http]\npublic_addr = \"{public}\"\nadmin_addr = \"{admin}\"\nadmin_token_file = \"admin.token\"\n"
    );
    write(&config_path, config.as_bytes())?;
    let cfg = Config::load(&config_path).map_err(step("configuration", 2))?;

    println!("zeugnis demo in {}", dir.display());
    println!(
        "  ledger {}   scan inbox {}   configuration {}",
        data.display(),
        scans.display(),
        config_path.display()
    );
    println!();
    let ledger = crate::ledger::Ledger::init(&data, DEMO_ORIGIN, Default::default())
        .map_err(step("create the ledger", 1))?;
    let sheet_key = crate::coversheet::CoverSheetKey::open_or_create(&data)
        .map_err(step("cover-sheet key", 1))?;
    let desk_password: String = {
        use rand::Rng as _;
        rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(DESK_PASSWORD_CHARS)
            .map(char::from)
            .collect()
    };
    crate::operators::OperatorStore::new(&data)
        .add(DESK_USER, &desk_password)
        .map_err(|e| step("desk account", e.exit_code())(e))?;
    write_private(&dir.join("desk.password"), desk_password.as_bytes())?;
    let mut registry = Registry::over(ledger, &base_url).map_err(step("open the registry", 1))?;

    println!(
        "1. The exam office registers {} certificates:",
        samples().len()
    );
    let mut made = Vec::new();
    let mut to_scan = Vec::new();
    for (i, s) in samples().into_iter().enumerate() {
        let record: RegistrationRecord =
            serde_json::from_value(s.record.clone()).map_err(step("sample record", 1))?;
        let docs: Vec<DocumentFile> = s
            .documents
            .iter()
            .enumerate()
            .map(|(j, lines)| DocumentFile {
                name: format!("sample-{}-{j}.pdf", i + 1),
                bytes: text_pdf(lines),
            })
            .collect();
        for d in &docs {
            write(&samples_dir.join(&d.name), &d.bytes)?;
        }
        write(
            &samples_dir.join(format!("sample-{}.json", i + 1)),
            serde_json::to_string_pretty(&s.record)
                .expect("json")
                .as_bytes(),
        )?;
        let issued = registry
            .register(&record, &docs, None)
            .map_err(|e| step("register a sample", e.exit_code())(e))?;
        let c = registry.find(&issued.code).map_err(step("show", 1))?;
        let grade = c
            .grade
            .as_ref()
            .and_then(|g| {
                g["result"]["final"]["display_de"]
                    .as_str()
                    .map(String::from)
            })
            .unwrap_or_default();
        println!(
            "   {}  {} {}, {} {}, final grade {grade}",
            issued.code,
            record.holder.given_name,
            record.holder.family_name,
            record.programme.degree,
            record.programme.name
        );
        println!("                   {}", s.label);
        if s.scanned {
            // The print version (the first document) is what was signed.
            to_scan.push((issued.code.clone(), docs[0].bytes.clone()));
        }
        made.push(Made {
            label: s.label,
            state: s.state,
            issued,
            language: record.language.clone(),
        });
    }
    println!();
    println!("2. Their cover sheets (A4 PDF with the QR code the scanning station scans in front of the signed paper):");
    for m in &made {
        let (code, pdf) = registry
            .cover_sheet(&m.issued.code)
            .map_err(step("cover sheet", 1))?;
        let path = samples_dir.join(format!("cover-sheet-{code}.pdf"));
        write(&path, &pdf)?;
        println!("   {}  {}", m.issued.code, path.display());
    }
    println!();
    println!(
        "3. The scanning station puts each cover sheet on top of its signed paper original and scans both as one PDF ({SCAN_DPI} dpi, the sheet a little skewed, some noise); the intake reads the QR code on the first page:"
    );
    let registry = Arc::new(Mutex::new(registry));
    let mut intake = crate::scans::Intake::new(cfg.intake.clone(), &scans, Arc::clone(&registry))
        .map_err(step("scan intake", 1))?;
    scan(&mut intake, &sheet_key, &dir, &to_scan, 1)?;
    // The intake holds a clone of the registry: give it back first.
    drop(intake);
    let mut registry = Arc::try_unwrap(registry)
        .map_err(|_| step::<&str>("scan intake", 1)("the intake still holds the registry"))?
        .into_inner()
        .map_err(|_| {
            step::<&str>("scan intake", 1)("a thread panicked while holding the registry")
        })?;

    println!();
    println!("4. Corrections:");
    let revoked = &made[1].issued.code;
    let seq = registry
        .revoke_with_category(
            revoked,
            crate::ledger::record::RevocationCategory::Withdrawn,
            "demo: degree withdrawn after the examination board found plagiarism in the thesis",
            &crate::dates::today_utc(),
        )
        .map_err(|e| step("revoke", e.exit_code())(e))?;
    println!("   revoked    {revoked} (category withdrawn, ledger seq {seq})");
    let old = made[2].issued.code.clone();
    let mut corrected = samples().swap_remove(2);
    corrected.record["holder"]["family_name"] = json!("Clarke");
    corrected.documents[0][2] =
        "Ms Amelia Clarke has completed the programme Data Literacy.".into();
    let record: RegistrationRecord =
        serde_json::from_value(corrected.record.clone()).map_err(step("sample record", 1))?;
    let doc = DocumentFile {
        name: "sample-3-corrected.pdf".into(),
        bytes: text_pdf(&corrected.documents[0]),
    };
    write(&samples_dir.join(&doc.name), &doc.bytes)?;
    let new = registry
        .supersede(&old, &record, std::slice::from_ref(&doc))
        .map_err(|e| step("supersede", e.exit_code())(e))?;
    println!(
        "   superseded {old} by {} (the family name was misspelt: Clark -> Clarke)",
        new.code
    );
    let (_, pdf) = registry
        .cover_sheet(&new.code)
        .map_err(step("cover sheet", 1))?;
    write(
        &samples_dir.join(format!("cover-sheet-{}.pdf", new.code.replace('-', ""))),
        &pdf,
    )?;
    let registry = Arc::new(Mutex::new(registry));
    let mut intake = crate::scans::Intake::new(cfg.intake.clone(), &scans, Arc::clone(&registry))
        .map_err(step("scan intake", 1))?;
    scan(
        &mut intake,
        &sheet_key,
        &dir,
        &[(new.code.clone(), doc.bytes.clone())],
        10,
    )?;
    drop(intake);
    if let Ok(r) = registry.lock() {
        r.ledger()
            .flush_index()
            .map_err(step("flush the index", 1))?;
    }
    drop(registry);
    made.push(Made {
        label: "the corrected certificate that replaces it, scanned: valid",
        state: "valid",
        issued: new,
        language: "en".into(),
    });

    println!();
    println!("5. Starting the daemon (its log follows on standard error) ...");
    if !public_usual || !admin_usual {
        println!(
            "   (the usual addresses {PUBLIC_ADDR_USUAL} / {ADMIN_ADDR_USUAL} were busy or not asked for: using {public} and {admin})"
        );
    }
    let daemon_data = data.clone();
    let daemon = std::thread::Builder::new()
        .name("zeugnis-demo-daemon".into())
        .spawn(move || crate::daemon::run(&daemon_data, cfg, DEMO_ORIGIN))
        .map_err(io(&dir))?;
    let t0 = Instant::now();
    while TcpStream::connect(public).is_err() {
        if daemon.is_finished() {
            let result = daemon
                .join()
                .map_err(|_| step::<&str>("daemon", 1)("the daemon thread panicked"))?;
            return Err(match result {
                Ok(()) => step::<&str>("daemon", 1)("stopped before it listened"),
                Err(e) => step("daemon", e.exit_code())(e),
            });
        }
        if t0.elapsed() > Duration::from_millis(READY_WAIT_MS_MAX) {
            return Err(step::<String>("daemon", 1)(format!(
                "not listening on {public} after {READY_WAIT_MS_MAX} ms"
            )));
        }
        std::thread::sleep(Duration::from_millis(READY_POLL_MS));
    }
    print!(
        "{}",
        guide(
            &made,
            &base_url,
            admin,
            &desk_password,
            &dir,
            &config_path,
            &made[2].issued.code
        )
    );
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let result = daemon
        .join()
        .map_err(|_| step::<&str>("daemon", 1)("the daemon thread panicked"))?;
    result.map_err(|e| step("daemon", e.exit_code())(e))?;
    println!();
    println!("demo stopped. The data is in {}", dir.display());
    println!(
        "  start it again:  zeugnis run --config {}",
        config_path.display()
    );
    println!("  remove it:       rm -r {}", dir.display());
    Ok(())
}

/// Drops one simulated scan per certificate into the intake and prints the
/// outcomes. Each scan is what the scanning station sends: one PDF with the
/// cover sheet first, then the page of the signed print version (`codes`
/// pairs each code with its print version's PDF).
fn scan(
    intake: &mut crate::scans::Intake,
    key: &crate::coversheet::CoverSheetKey,
    dir: &Path,
    codes: &[(String, Vec<u8>)],
    seed: u64,
) -> Result<(), DemoError> {
    let staging = dir.join("samples");
    // Render the scans side by side (the pages are independent).
    let rendered: Vec<Result<Vec<u8>, DemoError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = codes
            .iter()
            .enumerate()
            .map(|(i, (formatted, print_version))| {
                let code = formatted.replace('-', "");
                let payload = crate::coversheet::qr_payload(&code, &key.tag(&code));
                scope.spawn(move || {
                    let degrees = if i % 2 == 0 { 1.5 } else { -2.0 };
                    let sheet = crate::scans::simulate::scanned_cover_page(
                        &payload,
                        SCAN_DPI,
                        degrees,
                        SCAN_NOISE_PERCENT,
                        seed + i as u64,
                    );
                    let original = crate::scans::simulate::scanned_document_page(
                        print_version,
                        SCAN_DPI,
                        SCAN_NOISE_PERCENT,
                        seed + 100 + i as u64,
                    )
                    .map_err(|e| {
                        step::<String>("render the printed certificate", 1)(format!(
                            "{formatted}: {e}"
                        ))
                    })?;
                    Ok(crate::scans::simulate::scan_pdf(
                        &[sheet, original],
                        SCAN_DPI,
                    ))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(step::<&str>("render a scan", 1)(
                        "a rendering thread panicked",
                    ))
                })
            })
            .collect()
    });
    let mut files = Vec::new();
    for ((formatted, _), pdf) in codes.iter().zip(rendered) {
        let path = staging.join(format!("scan-{}.pdf", formatted.replace('-', "")));
        write(&path, &pdf?)?;
        files.push(path);
    }
    let outcomes = intake.ingest(&files).map_err(step("scan intake", 1))?;
    for o in outcomes {
        println!(
            "   {:<22} {} {}",
            o.file,
            o.outcome,
            o.code.as_deref().unwrap_or("")
        );
        if o.outcome != "archived" {
            return Err(step::<String>("scan intake", 1)(format!(
                "{}: {} ({})",
                o.file,
                o.outcome,
                o.reason.unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// The closing text: per state the URLs, the admin API, what to try next.
fn guide(
    made: &[Made],
    base_url: &str,
    admin: SocketAddr,
    desk_password: &str,
    dir: &Path,
    config: &Path,
    superseded: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "The verification service runs at {base_url}/ ; try, per state:"
    );
    for m in made {
        let plain = m.issued.code.replace('-', "");
        let _ = writeln!(
            s,
            "  {:<13} {}  ({})",
            format!("{}:", m.state),
            m.issued.code,
            m.label
        );
        let _ = writeln!(s, "      without key  {base_url}/{}/{plain}", m.language);
        let _ = writeln!(s, "      with key     {}", m.issued.url);
        let _ = writeln!(
            s,
            "      JSON         {base_url}/api/v1/certificates/{plain}"
        );
    }
    let cli = format!("zeugnis --config {}", config.display());
    let example = &made[0].issued;
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Admin API: http://{admin}/admin/v1/ with the bearer token in {}",
        dir.join("admin.token").display()
    );
    let _ = writeln!(
        s,
        "  curl -H \"Authorization: Bearer $(cat {})\" http://{admin}/admin/v1/status",
        dir.join("admin.token").display()
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "Web desk for the exam office: http://{admin}/desk/");
    let _ = writeln!(s, "  user name  {DESK_USER}");
    let _ = writeln!(
        s,
        "  password   {desk_password}   (also in {})",
        dir.join("desk.password").display()
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "What to try next (in another terminal; the commands go to the running daemon):"
    );
    let _ = writeln!(
        s,
        "  open http://{admin}/desk/ in a browser, sign in as {DESK_USER}, watch the inbox (Eingang) and register a certificate (Registrieren) with a record like {}",
        dir.join("samples").join("sample-1.json").display()
    );
    let _ = writeln!(s, "  {cli} show {} --key {}", example.code, example.key);
    let _ = writeln!(s, "  {cli} status");
    let _ = writeln!(
        s,
        "  {cli} export-proof {} -o {}",
        example.code,
        dir.join("proof").display()
    );
    let _ = writeln!(
        s,
        "  zeugnis verify-proof {} --vkey \"$({cli} vkey)\"",
        dir.join("proof").display()
    );
    let _ = writeln!(
        s,
        "  {cli} show {superseded}        (superseded: names its replacement)"
    );
    let _ = writeln!(
        s,
        "  print a cover sheet from {}, scan it on top of the certificate and drop the scan into {}",
        dir.join("samples").display(),
        dir.join("scans").display()
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Ctrl-C ends the demo (the data stays in {}).",
        dir.display()
    );
    s
}
