//! The repository's documents stand alone: every relative link in every
//! Markdown file resolves to a file or folder inside the repository, and no
//! document sends the reader to files outside it (issue 20).

use std::path::{Path, PathBuf};

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') || name == "target" || name == "node_modules" || name == "vendor" {
            continue;
        }
        if p.is_dir() {
            markdown_files(&p, out);
        } else if name.ends_with(".md") {
            out.push(p);
        }
    }
}

/// `[text](target)` links of one Markdown text (inline links only).
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("](") {
        let start = i + at + 2;
        let Some(len) = text[start..].find(')') else {
            break;
        };
        let target = &text[start..start + len];
        if !target.contains(' ') && !target.is_empty() && bytes[i + at] == b']' {
            out.push(target.to_string());
        }
        i = start + len;
    }
    out
}

#[test]
fn every_relative_markdown_link_resolves_inside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    markdown_files(root, &mut files);
    assert!(files.len() > 5, "found {} Markdown files", files.len());
    let mut broken = Vec::new();
    let mut checked = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        for link in links(&text) {
            if link.contains("://") || link.starts_with('#') || link.starts_with("mailto:") {
                continue;
            }
            let path = link.split('#').next().unwrap_or_default();
            if path.is_empty() || path.starts_with('/') {
                continue; // a route of the service, not a file
            }
            checked += 1;
            let target = f.parent().expect("parent").join(path);
            let inside = target
                .canonicalize()
                .map(|t| t.starts_with(root.canonicalize().expect("root")))
                .unwrap_or(false);
            if !inside {
                broken.push(format!(
                    "{}: {link}",
                    f.strip_prefix(root).unwrap().display()
                ));
            }
        }
        // Spelled in pieces so that this file does not itself name them.
        let outside_names = [
            format!("..{}shared/", '/'),
            format!("shared/{}.md", "DESIGN"),
            format!("shared/{}.md", "DOMAIN"),
        ];
        for outside in &outside_names {
            if text.contains(outside.as_str()) {
                broken.push(format!(
                    "{}: refers to {outside}, which is not in the repository",
                    f.strip_prefix(root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "{checked} links checked; broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_link_finder_finds_links() {
    assert_eq!(
        links("see [a](docs/a.md) and [b](https://x.y) and [c](#top)"),
        ["docs/a.md", "https://x.y", "#top"]
    );
}
