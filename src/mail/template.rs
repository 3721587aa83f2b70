//! The texts of the mail to the graduate: a built-in German and English
//! template, each replaceable by a file in the operator's template folder
//! (`[mail] templates`: `de.txt`, `en.txt`).
//!
//! A template is UTF-8 text: the first line is `Subject: ...`, then one
//! empty line, then the body. Placeholders are `{code}` (the code as
//! printed, `QNVC-FM3P-4VDF`), `{url}` (the verification link with the
//! access key) and `{name}` (the holder's given and family name); `{{` and
//! `}}` stand for literal braces. Any other `{...}` is refused when the
//! daemon starts, naming the file and the placeholder.
//!
//! Owns: parsing, checking and filling in templates.
//! Must not do: send mail or read the queue.

use std::path::{Path, PathBuf};

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 3] = ["code", "url", "name"];
/// Largest template file, in bytes.
pub const TEMPLATE_BYTES_MAX: u64 = 64 * 1024;
/// Languages with a template.
pub const LANGUAGES: [&str; 2] = ["de", "en"];

const BUILTIN_DE: &str = "Subject: Ihr digitales Zeugnis ({code})

Guten Tag {name},

Ihr unterschriebenes Zeugnis ist archiviert. Im Anhang finden Sie die
digitale Fassung als PDF.

Unter diesem Link können Sie und alle, denen Sie ihn geben, prüfen, dass
das Zeugnis echt und gültig ist:

{url}

Der Link enthält Ihren persönlichen Zugangsschlüssel. Geben Sie ihn nur
weiter, wenn jemand das Zeugnis prüfen soll.

Code des Zeugnisses: {code}

Diese Nachricht wurde automatisch versandt.
";

const BUILTIN_EN: &str = "Subject: Your digital certificate ({code})

Dear {name},

Your signed certificate has been archived. The digital version is attached
as a PDF.

With this link you, and anyone you give it to, can check that the
certificate is genuine and valid:

{url}

The link contains your personal access key. Share it only with those who
are to check the certificate.

Certificate code: {code}

This message was sent automatically.
";

/// A template that cannot be used; names the file (or `builtin`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The file cannot be read.
    #[error("mail template {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The text breaks a rule; `reason` says which (and the placeholder).
    #[error("mail template {path}: {reason}")]
    Bad { path: PathBuf, reason: String },
}

/// One checked template.
#[derive(Clone, Debug)]
pub struct Template {
    /// `builtin` or `operator`.
    pub origin: &'static str,
    /// The subject line's text, with placeholders.
    subject: String,
    /// The body, with placeholders.
    body: String,
    /// BLAKE3 of the whole template text, recorded with each delivery.
    pub blake3: [u8; 32],
}

/// The values a template is filled in with.
pub struct Values<'a> {
    /// The code as printed.
    pub code: &'a str,
    /// The verification link with the key.
    pub url: &'a str,
    /// The holder's name.
    pub name: &'a str,
}

/// The parts of a template text: literal text and placeholders.
enum Part<'a> {
    Text(&'a str),
    Brace(char),
    Placeholder(&'a str),
}

/// Splits `text` into parts; an unknown placeholder or a lone brace is an
/// error (its reason).
fn parts(text: &str) -> Result<Vec<Part<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push(Part::Text(&rest[..i]));
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(Part::Brace(tail.as_bytes()[0] as char));
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err("a lone `}` (write `}}` for a literal brace)".into());
        }
        let Some(end) = tail.find('}') else {
            return Err("a `{` without its `}` (write `{{` for a literal brace)".into());
        };
        let name = &tail[1..end];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}} (known: {})",
                PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(" ")
            ));
        }
        out.push(Part::Placeholder(name));
        rest = &tail[end + 1..];
    }
    out.push(Part::Text(rest));
    Ok(out)
}

impl Template {
    /// Parses and checks a template text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str, origin: &'static str) -> Result<Template, TemplateError> {
        let bad = |reason: String| TemplateError::Bad {
            path: path.to_path_buf(),
            reason,
        };
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        let subject = first
            .trim_end_matches('\r')
            .strip_prefix("Subject: ")
            .ok_or_else(|| bad("the first line must be `Subject: ...`".into()))?;
        if subject.trim().is_empty() {
            return Err(bad("the subject is empty".into()));
        }
        let body = rest
            .strip_prefix("\r\n")
            .or_else(|| rest.strip_prefix('\n'))
            .ok_or_else(|| bad("the subject line must be followed by an empty line".into()))?;
        if body.trim().is_empty() {
            return Err(bad("the body is empty".into()));
        }
        parts(subject).map_err(|r| bad(format!("subject: {r}")))?;
        parts(body).map_err(|r| bad(format!("body: {r}")))?;
        if !body.contains("{url}") {
            return Err(bad(
                "the body must contain {url} (the verification link with the key)".into(),
            ));
        }
        Ok(Template {
            origin,
            subject: subject.to_string(),
            body: body.to_string(),
            blake3: *blake3::hash(text.as_bytes()).as_bytes(),
        })
    }

    /// Subject and body filled in with `v`.
    pub fn render(&self, v: &Values) -> (String, String) {
        let fill = |text: &str| {
            let mut out = String::new();
            // Checked in `parse`: every part is known.
            for p in parts(text).unwrap_or_default() {
                match p {
                    Part::Text(t) => out.push_str(t),
                    Part::Brace(c) => out.push(c),
                    Part::Placeholder("code") => out.push_str(v.code),
                    Part::Placeholder("url") => out.push_str(v.url),
                    Part::Placeholder(_) => out.push_str(v.name),
                }
            }
            out
        };
        (fill(&self.subject), fill(&self.body))
    }
}

/// The templates of both languages.
#[derive(Clone, Debug)]
pub struct Templates {
    de: Template,
    en: Template,
}

impl Templates {
    /// The built-in templates, replaced by `<dir>/de.txt` and `<dir>/en.txt`
    /// where those exist. Every file present is checked.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let one = |lang: &str, builtin: &str| -> Result<Template, TemplateError> {
            if let Some(dir) = dir {
                let path = dir.join(format!("{lang}.txt"));
                if path.exists() {
                    let read = |source| TemplateError::Read {
                        path: path.clone(),
                        source,
                    };
                    let len = std::fs::metadata(&path).map_err(read)?.len();
                    if len > TEMPLATE_BYTES_MAX {
                        return Err(TemplateError::Bad {
                            path,
                            reason: format!("larger than {TEMPLATE_BYTES_MAX} bytes"),
                        });
                    }
                    let text =
                        std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    return Template::parse(&path, &text, "operator");
                }
            }
            Template::parse(Path::new(&format!("builtin:{lang}")), builtin, "builtin")
        };
        Ok(Templates {
            de: one("de", BUILTIN_DE)?,
            en: one("en", BUILTIN_EN)?,
        })
    }

    /// The template for `language` (`de`; anything else gets `en`).
    pub fn for_language(&self, language: &str) -> &Template {
        if language == "de" {
            &self.de
        } else {
            &self.en
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values<'static> {
        Values {
            code: "QNVC-FM3P-4VDF",
            url: "https://z.example/de/QNVCFM3P4VDF-7K2M9S",
            name: "Anna Muster",
        }
    }

    #[test]
    fn builtin_templates_fill_in_every_placeholder() {
        let t = Templates::load(None).unwrap();
        for lang in LANGUAGES {
            let (subject, body) = t.for_language(lang).render(&values());
            assert!(subject.contains("QNVC-FM3P-4VDF"), "{subject}");
            assert!(
                body.contains("https://z.example/de/QNVCFM3P4VDF-7K2M9S"),
                "{body}"
            );
            assert!(body.contains("Anna Muster"), "{body}");
            assert!(!body.contains('{') && !subject.contains('{'), "{body}");
            assert_eq!(t.for_language(lang).origin, "builtin");
        }
        assert!(t
            .for_language("de")
            .render(&values())
            .1
            .contains("Guten Tag"));
        assert!(t.for_language("en").render(&values()).1.contains("Dear"));
    }

    /// Each bad template is refused naming the file and the reason.
    #[test]
    fn bad_templates_are_refused_naming_file_and_placeholder() {
        let cases = [
            (
                "Subject: x\n\n{url} {grade}\n",
                "unknown placeholder {grade}",
            ),
            (
                "Subject: {Name}\n\n{url}\n",
                "subject: unknown placeholder {Name}",
            ),
            ("Subject: x\n\n{url} {code\n", "without its `}`"),
            ("Subject: x\n\n{url} }\n", "a lone `}`"),
            ("Hello\n\n{url}\n", "first line must be `Subject: ...`"),
            ("Subject: x\n{url}\n", "followed by an empty line"),
            ("Subject: x\n\nno link\n", "must contain {url}"),
        ];
        for (text, want) in cases {
            let e = Template::parse(Path::new("/t/de.txt"), text, "operator")
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("mail template /t/de.txt: ") && e.contains(want),
                "{text:?}: {e}"
            );
        }
    }

    /// An operator file replaces its language only; braces can be escaped.
    #[test]
    fn operator_files_replace_the_builtin_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("en.txt"),
            "Subject: Certificate {code}\n\nHi {name}, {{see}} {url}\n",
        )
        .unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let en = t.for_language("en");
        assert_eq!(en.origin, "operator");
        assert_eq!(
            en.render(&values()),
            (
                "Certificate QNVC-FM3P-4VDF".to_string(),
                "Hi Anna Muster, {see} https://z.example/de/QNVCFM3P4VDF-7K2M9S\n".to_string()
            )
        );
        assert_eq!(t.for_language("de").origin, "builtin");
        std::fs::write(
            dir.path().join("de.txt"),
            "Subject: x\n\n{url} {matrikel}\n",
        )
        .unwrap();
        let e = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("de.txt") && e.contains("{matrikel}"), "{e}");
    }
}
