//! Barcode decodes in a child process with memory and CPU limits.
//!
//! Owns: the hidden `zeugnis decode-worker` subcommand (the child side:
//! rlimits, read the file from stdin, decode, print the texts as JSON) and
//! running one decode in such a child from the intake (the parent side:
//! feed the file, wait at most the wall-clock limit, kill, classify the
//! end).
//! The same entry point runs a second job kind, [`RENDER_JOB`]: page 1 of
//! a registered PDF rendered to a PNG for the ELM export's display image
//! (`crate::exports::page_render`), a parser and rasteriser run on a file
//! that may be hostile just like a scan; and a third, [`RENDER_IMAGE_JOB`]:
//! a scan image decoded and encoded afresh as a PNG for the desk's preview
//! of a quarantined scan (`crate::scans::preview`).
//! Must not do: interpret the texts (that is `identify`), touch the inbox.
//!
//! Why a process: a hostile PDF or image can make the parsers allocate
//! gigabytes (object streams, 80-megapixel images) or spin for minutes
//! (QR finder-pattern tilings), and a thread cannot be stopped. A child
//! with `RLIMIT_AS` (`intake.decode_bytes_max`) and `RLIMIT_CPU` dies
//! instead of the daemon, is killed at `intake.decode_timeout_ms`, and
//! its memory is returned when it ends.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The hidden subcommand that runs one decode.
pub const SUBCOMMAND: &str = "decode-worker";
/// Largest answer read from a worker, in bytes (the texts of a few
/// barcodes; anything longer is a broken worker).
const ANSWER_BYTES_MAX: u64 = 1024 * 1024;
/// Largest answer read from a [`RENDER_JOB`] worker, in bytes: the PNG
/// (at most `exports::elm::PAGE_IMAGE_BYTES_MAX`) in base64, plus the JSON
/// around it.
const RENDER_ANSWER_BYTES_MAX: u64 = 6 * 1024 * 1024;
/// The job kind (in place of a media type) that renders page 1 of a PDF to
/// a PNG instead of decoding barcodes.
pub const RENDER_JOB: &str = "render-first-page-png";
/// The job kind that decodes a scan image (PNG, JPEG, TIFF), shrinks it to
/// at most `exports::page_render::PAGE_IMAGE_SIDE_PX_MAX` a side and
/// encodes it afresh as a grayscale PNG: the desk's preview of a
/// quarantined image scan (`crate::scans::preview`).
pub const RENDER_IMAGE_JOB: &str = "render-image-png";
/// Largest stderr kept from a worker, in bytes (for the reason file).
const STDERR_BYTES_MAX: u64 = 16 * 1024;
/// The last argument of the worker once it runs under its limits.
const LIMITED: &str = "limited";
/// Longest pause between two checks whether the worker has ended.
const POLL_MS_MAX: u64 = 20;

/// The limits of one decode.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Address-space limit of the worker process (`RLIMIT_AS`), in bytes.
    pub bytes_max: u64,
    /// Wall-clock limit, in milliseconds; the worker is killed after it.
    /// Its CPU limit (`RLIMIT_CPU`) is this rounded up to whole seconds.
    pub timeout_ms: u64,
    /// Largest input accepted on stdin, in bytes.
    pub input_bytes_max: u64,
}

/// How a decode in a worker ended without texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerFailure {
    /// The file is not a decodable image or PDF (the decoder's reason).
    Image(String),
    /// The worker ran out of its memory budget (`decode_over_budget`).
    OverBudget { bytes_max: u64 },
    /// The worker overran its time and was killed (`decode_timeout`).
    TimedOut { timeout_ms: u64 },
    /// The worker died otherwise (a decoder crash: `decode_crashed`).
    Crashed(String),
    /// The worker could not be started (not the file's fault).
    Spawn(String),
}

impl WorkerFailure {
    /// The quarantine reason for a file whose only identification failed
    /// this way (`None`: an ordinary unreadable barcode).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            WorkerFailure::Image(_) | WorkerFailure::Spawn(_) => None,
            WorkerFailure::OverBudget { .. } => Some("decode_over_budget"),
            WorkerFailure::TimedOut { .. } => Some("decode_timeout"),
            WorkerFailure::Crashed(_) => Some("decode_crashed"),
        }
    }
}

impl std::fmt::Display for WorkerFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerFailure::Image(r) => write!(f, "{r}"),
            WorkerFailure::OverBudget { bytes_max } => write!(
                f,
                "decoding needed more than {bytes_max} bytes of memory (intake.decode_bytes_max)"
            ),
            WorkerFailure::TimedOut { timeout_ms } => write!(
                f,
                "decoding took longer than {timeout_ms} ms (intake.decode_timeout_ms); the decoder was killed"
            ),
            WorkerFailure::Crashed(r) => write!(f, "the decoder crashed: {r}"),
            WorkerFailure::Spawn(r) => write!(f, "cannot start the decode worker: {r}"),
        }
    }
}

/// The worker's answer on stdout.
#[derive(serde::Serialize, serde::Deserialize)]
struct Answer {
    texts: Vec<String>,
    error: Option<String>,
    /// [`RENDER_JOB`]: the PNG, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    png_base64: Option<String>,
}

/// Runs the decode of `bytes` (`media_type`) in a child `exe decode-worker`
/// under `limits`.
pub fn decode(
    exe: &Path,
    bytes: &[u8],
    media_type: &str,
    limits: Limits,
) -> Result<Vec<String>, WorkerFailure> {
    run(exe, bytes, media_type, limits, ANSWER_BYTES_MAX).map(|a| a.texts)
}

/// Renders page 1 of the PDF `bytes` to a PNG in a child
/// `exe decode-worker render-first-page-png` under `limits`
/// (`crate::exports::page_render` holds the limits and the rendering).
pub fn render_first_page(
    exe: &Path,
    bytes: &[u8],
    limits: Limits,
) -> Result<Vec<u8>, WorkerFailure> {
    render_png_job(exe, bytes, RENDER_JOB, limits)
}

/// Decodes the scan image `bytes` (PNG, JPEG, TIFF) and encodes it afresh
/// as a shrunk grayscale PNG in a child
/// `exe decode-worker render-image-png` under `limits`.
pub fn render_image(exe: &Path, bytes: &[u8], limits: Limits) -> Result<Vec<u8>, WorkerFailure> {
    render_png_job(exe, bytes, RENDER_IMAGE_JOB, limits)
}

/// Runs a job whose answer is a PNG.
fn render_png_job(
    exe: &Path,
    bytes: &[u8],
    job: &str,
    limits: Limits,
) -> Result<Vec<u8>, WorkerFailure> {
    let answer = run(exe, bytes, job, limits, RENDER_ANSWER_BYTES_MAX)?;
    let Some(b64) = answer.png_base64 else {
        return Err(WorkerFailure::Crashed("the answer has no PNG".into()));
    };
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.as_bytes())
        .map_err(|e| WorkerFailure::Crashed(format!("the answer's PNG is not base64: {e}")))
}

/// Runs one job in a child and reads its answer (at most `answer_max`
/// bytes); an answer with `error` set is [`WorkerFailure::Image`].
fn run(
    exe: &Path,
    bytes: &[u8],
    media_type: &str,
    limits: Limits,
    answer_max: u64,
) -> Result<Answer, WorkerFailure> {
    let mut child = Command::new(exe)
        .arg(SUBCOMMAND)
        .arg(media_type)
        .arg(limits.bytes_max.to_string())
        .arg(limits.timeout_ms.div_ceil(1000).max(1).to_string())
        .arg(limits.input_bytes_max.to_string())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| WorkerFailure::Spawn(format!("{}: {e}", exe.display())))?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(WorkerFailure::Spawn("no pipes to the worker".into()));
    };
    let started = Instant::now();
    let limit = Duration::from_millis(limits.timeout_ms);
    let (status, answer, err) = std::thread::scope(|s| {
        // The worker may stop reading (it died); the write then fails.
        s.spawn(move || {
            let _ = stdin.write_all(bytes);
        });
        let out = s.spawn(move || {
            let mut b = Vec::new();
            let _ = stdout.take(answer_max).read_to_end(&mut b);
            b
        });
        let err = s.spawn(move || {
            let mut b = Vec::new();
            let _ = stderr.take(STDERR_BYTES_MAX).read_to_end(&mut b);
            b
        });
        let mut pause = 1;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break Ok(Some(st)),
                Ok(None) if started.elapsed() >= limit => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Ok(None);
                }
                Ok(None) => {
                    std::thread::sleep(Duration::from_millis(pause));
                    pause = (pause * 2).min(POLL_MS_MAX);
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(e.to_string());
                }
            }
        };
        (
            status,
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
        )
    });
    let status = status.map_err(|e| WorkerFailure::Crashed(format!("waiting for it: {e}")))?;
    let Some(status) = status else {
        return Err(WorkerFailure::TimedOut {
            timeout_ms: limits.timeout_ms,
        });
    };
    let stderr = String::from_utf8_lossy(&err);
    if status.success() {
        return match serde_json::from_slice::<Answer>(&answer) {
            Ok(Answer { error: Some(e), .. }) => Err(WorkerFailure::Image(e)),
            Ok(a) => Ok(a),
            Err(e) => Err(WorkerFailure::Crashed(format!("unreadable answer: {e}"))),
        };
    }
    use std::os::unix::process::ExitStatusExt;
    const SIGXCPU: i32 = 24;
    const SIGKILL: i32 = 9;
    if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
        return Err(WorkerFailure::OverBudget {
            bytes_max: limits.bytes_max,
        });
    }
    match status.signal() {
        Some(SIGXCPU) | Some(SIGKILL) => Err(WorkerFailure::TimedOut {
            timeout_ms: limits.timeout_ms,
        }),
        Some(sig) => Err(WorkerFailure::Crashed(format!(
            "killed by signal {sig}{}",
            last_line(&stderr)
        ))),
        None => Err(WorkerFailure::Crashed(format!(
            "exit status {}{}",
            status.code().unwrap_or(-1),
            last_line(&stderr)
        ))),
    }
}

fn last_line(stderr: &str) -> String {
    match stderr.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(l) => format!(
            " ({})",
            l.chars()
                .take(200)
                .flat_map(char::escape_default)
                .collect::<String>()
        ),
        None => String::new(),
    }
}

/// The executable that runs decode workers: this very program. When it
/// cannot be found (deleted after an upgrade), `zeugnis` on the `PATH`.
pub fn default_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("zeugnis"))
}

/// The child side (`zeugnis decode-worker MEDIA BYTES_MAX CPU_SECS
/// INPUT_MAX`): sets its limits, reads the file from stdin, decodes it and
/// prints one JSON answer. Returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let (limits, limited) = match args {
        [a, b, c, d] => ([a, b, c, d], false),
        [a, b, c, d, l] if l == LIMITED => ([a, b, c, d], true),
        _ => {
            eprintln!("usage: zeugnis {SUBCOMMAND} MEDIA_TYPE BYTES_MAX CPU_SECS INPUT_BYTES_MAX");
            return 2;
        }
    };
    let [media_type, bytes_max, cpu_secs, input_max] = limits;
    let (Ok(bytes_max), Ok(cpu_secs), Ok(input_max)) = (
        bytes_max.parse::<u64>(),
        cpu_secs.parse::<u64>(),
        input_max.parse::<u64>(),
    ) else {
        eprintln!("{SUBCOMMAND}: limits must be whole numbers");
        return 2;
    };
    if !limited {
        // Limits set in a running process do not shrink what its allocator
        // has already reserved (mimalloc reserves a large arena at start):
        // set them, then start afresh under them (exec keeps rlimits).
        use rustix::process::{setrlimit, Resource, Rlimit};
        let cap = |n: u64| Rlimit {
            current: Some(n),
            maximum: Some(n),
        };
        if let Err(e) = setrlimit(Resource::As, cap(bytes_max))
            .and_then(|()| setrlimit(Resource::Cpu, cap(cpu_secs)))
            .and_then(|()| setrlimit(Resource::Core, cap(0)))
        {
            eprintln!("{SUBCOMMAND}: setrlimit: {e}");
            return 3;
        }
        use std::os::unix::process::CommandExt;
        let err = Command::new(default_exe())
            .arg(SUBCOMMAND)
            .args(limits)
            .arg(LIMITED)
            .exec();
        eprintln!("{SUBCOMMAND}: cannot start under the limits: {err}");
        return 3;
    }
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin()
        .lock()
        .take(input_max + 1)
        .read_to_end(&mut bytes)
    {
        eprintln!("{SUBCOMMAND}: reading stdin: {e}");
        return 3;
    }
    let answer = if bytes.len() as u64 > input_max {
        Answer {
            texts: vec![],
            error: Some(format!("input larger than {input_max} bytes")),
            png_base64: None,
        }
    } else if media_type == RENDER_JOB || media_type == RENDER_IMAGE_JOB {
        let png = if media_type == RENDER_JOB {
            crate::exports::page_render::render_png(&bytes)
        } else {
            super::barcode::preview_png(&bytes, crate::exports::page_render::PAGE_IMAGE_SIDE_PX_MAX)
        };
        match png {
            Ok(png) => Answer {
                texts: vec![],
                error: None,
                png_base64: Some(base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    png,
                )),
            },
            Err(e) => Answer {
                texts: vec![],
                error: Some(e),
                png_base64: None,
            },
        }
    } else {
        match super::barcode::decode(&bytes, media_type) {
            Ok(texts) => Answer {
                texts,
                error: None,
                png_base64: None,
            },
            Err(e) => Answer {
                texts: vec![],
                error: Some(e.to_string()),
                png_base64: None,
            },
        }
    };
    match serde_json::to_writer(std::io::stdout().lock(), &answer) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{SUBCOMMAND}: writing the answer: {e}");
            3
        }
    }
}
