//! The daemon's configuration: one TOML file, every limit named, with the
//! embedded defaults used when there is no file.
//!
//! Owns: parsing and validating `zeugnis run --config FILE` (unknown keys are
//! errors naming the key and line), the defaults, and resolving relative
//! paths against the config file's folder.
//! Must not do: start anything, touch the ledger or the inbox.

use crate::scans::IntakeConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Environment variable naming the configuration file when `--config` is
/// not given.
pub const CONFIG_ENV: &str = "ZEUGNIS_CONFIG";
/// The configuration file used when neither `--config` nor
/// `ZEUGNIS_CONFIG` names one and it exists in the working directory.
pub const CONFIG_FILE_DEFAULT: &str = "zeugnis.toml";

/// Default interval between periodic status reports: one day.
pub const REPORT_INTERVAL_SECS_DEFAULT: u64 = 86_400;

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown key or a bad value (the
    /// message names the key, line and column).
    #[error("config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A value is out of its allowed range.
    #[error("config {path}: {field}: {reason}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        reason: String,
    },
}

/// The whole configuration (`zeugnis run --config FILE`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Data directory (the ledger). Default: the `--data` argument (`ledger`).
    pub data: Option<PathBuf>,
    /// The scan inbox. Default `scans`.
    pub scans: PathBuf,
    /// Base URL of the verification service, used in printed links.
    pub base_url: String,
    /// The scan intake.
    pub intake: IntakeConfig,
    /// The periodic status report.
    pub report: ReportConfig,
    /// The verification service and the admin API (`docs/http.md`).
    pub http: crate::http::HttpConfig,
    /// Code-list values of the machine-readable exports (`docs/exports.md`).
    pub exports: crate::exports::ExportsConfig,
    /// Publishing checkpoints outside the data directory (`[publish]`).
    pub publish: crate::publish::PublishConfig,
    /// Reserved codes (`[reserve]`, `zeugnis reserve`).
    pub reserve: ReserveConfig,
    /// Where `register --stamp` puts the link on page 1 (`[stamp]`).
    pub stamp: crate::stamp::StampPlace,
    /// The mail to the graduate (`[mail]`, `crate::mail`).
    pub mail: crate::mail::MailConfig,
    /// The exam office's web desk (`[desk]`, docs/operations.md).
    pub desk: crate::http::desk::DeskConfig,
}

/// Codes reserved before their documents exist (`[reserve]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReserveConfig {
    /// Days an unused reservation stays valid; 1 to 3,653. Default 90.
    pub expiry_days: u64,
}

impl Default for ReserveConfig {
    fn default() -> ReserveConfig {
        ReserveConfig {
            expiry_days: crate::registry::RESERVATION_DAYS_DEFAULT,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data: None,
            scans: PathBuf::from("scans"),
            base_url: crate::registry::BASE_URL_DEFAULT.to_string(),
            intake: IntakeConfig::default(),
            report: ReportConfig::default(),
            http: crate::http::HttpConfig::default(),
            exports: crate::exports::ExportsConfig::default(),
            publish: crate::publish::PublishConfig::default(),
            reserve: ReserveConfig::default(),
            stamp: crate::stamp::StampPlace::default(),
            mail: crate::mail::MailConfig::default(),
            desk: crate::http::desk::DeskConfig::default(),
        }
    }
}

/// The periodic status report of the daemon (`[report]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Seconds between reports; 0 turns them off. Default one day.
    pub interval_secs: u64,
    /// Registrations waiting for their scan longer than this many days are
    /// listed with their codes. Default 14.
    pub waiting_days: u64,
    /// Mail recipients; empty: no mail.
    pub mail_to: Vec<String>,
    /// Sender address (required when `mail_to` is set).
    pub mail_from: Option<String>,
    /// SMTP relay `HOST:PORT` (required when `mail_to` is set).
    pub smtp: Option<String>,
}

impl Default for ReportConfig {
    fn default() -> ReportConfig {
        ReportConfig {
            interval_secs: REPORT_INTERVAL_SECS_DEFAULT,
            waiting_days: crate::report::WAITING_DAYS_DEFAULT,
            mail_to: Vec::new(),
            mail_from: None,
            smtp: None,
        }
    }
}

impl ReportConfig {
    /// The mail settings, if mail is configured.
    pub fn mail(&self) -> Option<crate::report::MailConfig> {
        let (from, smtp) = (self.mail_from.as_ref()?, self.smtp.as_ref()?);
        let (host, port) = smtp.rsplit_once(':')?;
        Some(crate::report::MailConfig {
            host: host.to_string(),
            port: port.parse().ok()?,
            from: from.clone(),
            to: self.mail_to.clone(),
        })
    }
}

impl Config {
    /// Reads `path`; relative paths in it are taken relative to the file's
    /// folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut c = Config::parse(path, &text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(d) = &c.data {
            c.data = Some(base.join(d));
        }
        c.scans = base.join(&c.scans);
        for d in &mut c.publish.dirs {
            *d = base.join(&*d);
        }
        if let Some(t) = &c.http.admin_token_file {
            c.http.admin_token_file = Some(base.join(t));
        }
        if let Some(t) = &c.mail.templates {
            c.mail.templates = Some(base.join(t));
        }
        if let Some(l) = &c.http.branding.logo_file {
            c.http.branding.logo_file = Some(base.join(l));
        }
        Ok(c)
    }

    /// The configuration every command uses: `--config FILE` (`flag`), else
    /// the file named by `ZEUGNIS_CONFIG`, else `./zeugnis.toml` if it
    /// exists, else the embedded defaults. Returns it with the file it came
    /// from. A named file that cannot be read is an error; so is an empty
    /// `ZEUGNIS_CONFIG`.
    pub fn resolve(flag: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
        let named = match flag {
            Some(p) => Some(p.to_path_buf()),
            None => match std::env::var_os(CONFIG_ENV) {
                Some(v) if v.is_empty() => {
                    return Err(ConfigError::Invalid {
                        path: PathBuf::from(format!("${CONFIG_ENV}")),
                        field: "ZEUGNIS_CONFIG",
                        reason: "is set but empty; unset it or name a file".into(),
                    })
                }
                Some(v) => Some(PathBuf::from(v)),
                None => {
                    let local = PathBuf::from(CONFIG_FILE_DEFAULT);
                    local.is_file().then_some(local)
                }
            },
        };
        match named {
            Some(p) => Ok((Config::load(&p)?, Some(p))),
            None => Ok((Config::default(), None)),
        }
    }

    /// Parses and validates configuration text (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let c: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        c.validate(path)?;
        Ok(c)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, reason: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            reason: reason.to_string(),
        };
        if let Err((field, reason)) = self.intake.validate() {
            return Err(invalid(field, &reason));
        }
        let r = &self.report;
        if !r.mail_to.is_empty() && (r.mail_from.is_none() || r.smtp.is_none()) {
            return Err(invalid(
                "report.mail_to",
                "needs report.mail_from and report.smtp",
            ));
        }
        if !r.mail_to.is_empty() && r.mail().is_none() {
            return Err(invalid("report.smtp", "expected HOST:PORT"));
        }
        if let Err((field, reason)) = self.publish.validate() {
            return Err(invalid(field, &reason));
        }
        if !self.publish.mail_to.is_empty() && (r.mail_from.is_none() || r.smtp.is_none()) {
            return Err(invalid(
                "publish.mail_to",
                "needs report.mail_from and report.smtp (HOST:PORT)",
            ));
        }
        if !self.publish.mail_to.is_empty() && self.publish_mail().is_none() {
            return Err(invalid("report.smtp", "expected HOST:PORT"));
        }
        if let Err((field, reason)) = self.mail.validate() {
            return Err(invalid(field, &reason));
        }
        if !(1..=crate::registry::RESERVATION_DAYS_MAX).contains(&self.reserve.expiry_days) {
            return Err(invalid(
                "reserve.expiry_days",
                &format!(
                    "{} is not between 1 and {}",
                    self.reserve.expiry_days,
                    crate::registry::RESERVATION_DAYS_MAX
                ),
            ));
        }
        if let Err((field, reason)) = self.stamp.validate() {
            return Err(invalid(field, &reason));
        }
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(invalid("base_url", "must start with http:// or https://"));
        }
        self.desk.validate().map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        self.http.validate().map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The mail settings for checkpoint mails: sender and relay from
    /// `[report]`, recipients from `publish.mail_to`; `None` without
    /// recipients.
    pub fn publish_mail(&self) -> Option<crate::report::MailConfig> {
        if self.publish.mail_to.is_empty() {
            return None;
        }
        let mut m = ReportConfig {
            mail_to: vec![String::new()],
            ..self.report.clone()
        }
        .mail()?;
        m.to = self.publish.mail_to.clone();
        Some(m)
    }

    /// The HTTP service's configuration with the values it shares with the
    /// rest of the daemon (base URL, inbox, report waiting days) filled in.
    pub fn http_effective(&self) -> crate::http::HttpConfig {
        let mut h = self.http.clone();
        h.base_url = self.base_url.clone();
        h.scans_dir = self.scans.clone();
        h.waiting_days = self.report.waiting_days;
        h.scan_bytes_max = self.intake.file_bytes_max;
        h.stamp = self.stamp;
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("z.toml"), text)
    }

    #[test]
    fn empty_file_gives_the_embedded_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.scans, PathBuf::from("scans"));
        assert_eq!(c.data, None);
        assert_eq!(c.intake.stable_ms, IntakeConfig::default().stable_ms);
        assert_eq!(c.report.interval_secs, REPORT_INTERVAL_SECS_DEFAULT);
    }

    #[test]
    fn every_section_is_read() {
        let c = parse(
            "data = \"/srv/z/ledger\"\nscans = \"/srv/z/scans\"\n[intake]\nstable_ms = 500\nrescan_secs = 5\n\
             waiting_period_secs = 60\nfile_bytes_max = 1000\nbatch_files_max = 8\n[report]\ninterval_secs = 0\n",
        )
        .unwrap();
        assert_eq!(c.data, Some(PathBuf::from("/srv/z/ledger")));
        assert_eq!(c.intake.stable_ms, 500);
        assert_eq!(c.intake.rescan_secs, 5);
        assert_eq!(c.intake.waiting_period_secs, 60);
        assert_eq!(c.intake.file_bytes_max, 1000);
        assert_eq!(c.intake.batch_files_max, 8);
        assert_eq!(c.report.interval_secs, 0);
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let e = parse("[intake]\nstable_ms = 5\nstabel_wait = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("stabel_wait"), "{e}");
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        let e = parse("[intake]\nbatch_files_max = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("intake.batch_files_max"), "{e}");
        let e = parse("[intake]\nrescan_secs = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("intake.rescan_secs"), "{e}");
        let e = parse("[report]\nmail_to = [\"a@b\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("report.mail_to"), "{e}");
        let e = parse("base_url = \"ftp://x\"\n").unwrap_err().to_string();
        assert!(e.contains("base_url"), "{e}");
        let e = parse("[http]\nconnections_max = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("http.connections_max"), "{e}");
        // Branding colours must keep the contrast (white on pale blue: 2.2:1).
        let e = parse("[http.branding]\ncolour = \"#7fb2e5\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("http.branding.colour") && e.contains("4.5:1"),
            "{e}"
        );
        let c =
            parse("[http.branding]\ninstitution = \"Universität Erfurt\"\ncolour = \"#1a1a1a\"\n")
                .unwrap();
        assert_eq!(
            c.http.branding.institution.as_deref(),
            Some("Universität Erfurt")
        );
        // Shared values are set once, at the top level.
        let e = parse("[http]\nbase_url = \"https://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("base_url"), "{e}");
    }

    #[test]
    fn publish_section_is_read_and_checked() {
        let c = parse(
            "[publish]\ndirs = [\"/mnt/b/cp\"]\nmail_to = [\"a@b.example\"]\nmail_interval = \"6h\"\n\
             [report]\nmail_from = \"z@b.example\"\nsmtp = \"relay:25\"\n",
        )
        .unwrap();
        assert_eq!(c.publish.dirs, vec![PathBuf::from("/mnt/b/cp")]);
        assert_eq!(
            c.publish.mail_interval().unwrap(),
            std::time::Duration::from_secs(6 * 3600)
        );
        let m = c.publish_mail().unwrap();
        assert_eq!((m.host.as_str(), m.port), ("relay", 25));
        assert_eq!(m.to, vec!["a@b.example".to_string()]);
        assert_eq!(
            parse("").unwrap().publish.mail_interval().unwrap(),
            std::time::Duration::from_secs(86_400)
        );
        let e = parse("[publish]\nmail_interval = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("publish.mail_interval"), "{e}");
        let e = parse("[publish]\nmail_to = [\"a@b\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("publish.mail_to"), "{e}");
        let e = parse("[publish]\ndirz = []\n").unwrap_err().to_string();
        assert!(e.contains("dirz"), "{e}");
    }

    #[test]
    fn relative_paths_are_taken_from_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("zeugnis.toml");
        std::fs::write(
            &p,
            "data = \"l\"\nscans = \"s\"\n[http]\nadmin_token_file = \"t\"\n",
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.data, Some(dir.path().join("l")));
        assert_eq!(c.scans, dir.path().join("s"));
        assert_eq!(c.http.admin_token_file, Some(dir.path().join("t")));
        assert_eq!(c.http_effective().scans_dir, dir.path().join("s"));
        let e = Config::load(&dir.path().join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.toml"), "{e}");
    }
}
