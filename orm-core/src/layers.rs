//! The layers of orm-core, and the test that keeps them true.
//!
//! Every module imports only from layers below its own (or from its own
//! layer), so each concept can be read, tested and changed without the
//! ones above it. Each module's doc states its layer; the test below
//! checks the doc against this table and every `crate::` path against it.
//!
//! | layer | modules | what they are |
//! |---|---|---|
//! | 0 | `value`, `row`, `error` | values, rows, the error type |
//! | 1 | `sql`, `model`, `backend`, `telemetry` | the SQL layer (dialects, rendering, templates, DML, DDL); the model (entity metadata and the field protocol, as plain data); the drivers; spans and counters |
//! | 2 | `object`, `relation`, `runner`, `engine`, `results` | handles and object states; relationship collections; where statements run; the pool and what is shared with it; the result cache |
//! | 3 | `session` | the unit of work: identity map, change tracking, flush, transaction, undo, hooks, loading |
//! | 4 | `query`, `migrate` | typed queries, batches, raw SQL values; schema migrations (introspection, diff, files, the migrator) |
//! | 5 | `database`, `cache`, `lib`, `__private` | the entry points and the public facades |
//!
//! And four rules the layers alone do not say:
//!
//! * the model never names `Session` or `Handle`;
//! * the SQL layer never names `Session`, `Query` or `Entity`;
//! * `orm-cache` never names `Database`, `Entity` or `Session`;
//! * internal code never imports through the crate root's re-exports
//!   (`crate::Value`): it names the module that owns the item.
//!
//! Layer 5 (the entry points): it uses only what is below it.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// The layer of a module, from its path under `src/`.
    fn layer(path: &str) -> Option<u8> {
        let top = path.split(['/', '.']).next()?;
        Some(match top {
            "value" | "row" | "error" => 0,
            "sql" | "model" | "backend" | "telemetry" => 1,
            "object" | "relation" | "runner" | "engine" | "results" => 2,
            "session" => 3,
            "query" | "migrate" => 4,
            "database" | "cache" | "lib" | "__private" | "layers" => 5,
            _ => return None,
        })
    }

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read the source tree") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The code of a file: comments, doc comments and string literals cut,
    /// so that prose and messages may name anything.
    fn code(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            let mut in_str = false;
            let mut prev = ' ';
            let mut kept = String::new();
            for (i, c) in line.char_indices() {
                if !in_str && c == '/' && line[i..].starts_with("//") {
                    break;
                }
                if c == '"' && prev != '\\' {
                    in_str = !in_str;
                } else if !in_str {
                    kept.push(c);
                }
                prev = c;
            }
            out.push_str(&kept);
            out.push('\n');
        }
        out
    }

    /// Top-level `crate::<module>` names a piece of code uses.
    fn crate_paths(code: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let tail = &rest[i + "crate::".len()..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '{')
                .collect();
            out.push(name);
            rest = tail;
        }
        out
    }

    fn names(code: &str, word: &str) -> bool {
        code.match_indices(word).any(|(i, _)| {
            let before = code[..i].chars().next_back();
            let after = code[i + word.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    }

    #[test]
    fn every_module_imports_only_from_below_and_follows_the_rules() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &mut files);
        files.sort();
        let mut problems = Vec::new();
        for file in &files {
            let rel = file
                .strip_prefix(&root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            let Some(mine) = layer(&rel) else {
                problems.push(format!("{rel}: in no layer (add it to the table)"));
                continue;
            };
            let text = std::fs::read_to_string(file).expect("read a source file");
            let doc: String = text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .collect::<Vec<_>>()
                .join("\n");
            if rel != "lib.rs" && !doc.contains(&format!("Layer {mine}")) {
                problems.push(format!("{rel}: its doc does not state its layer, {mine}"));
            }
            let code = code(&text);
            for path in crate_paths(&code) {
                if path.starts_with(|c: char| c.is_ascii_uppercase() || c == '{')
                    && !matches!(rel.as_str(), "lib.rs" | "__private.rs")
                {
                    problems.push(format!(
                        "{rel}: imports `crate::{path}` through the crate root's re-exports"
                    ));
                    continue;
                }
                if let Some(theirs) = layer(&path)
                    && theirs > mine
                {
                    problems.push(format!(
                        "{rel} (layer {mine}) uses `crate::{path}` (layer {theirs})"
                    ));
                }
            }
            let forbidden: &[&str] = match rel.split('/').next() {
                Some("model") => &["Session", "Handle"],
                Some("sql") => &["Session", "Entity"],
                _ => &[],
            };
            for word in forbidden {
                if names(&code, word) {
                    problems.push(format!("{rel}: the {} names `{word}`", layer_name(&rel)));
                }
            }
            if rel.starts_with("sql/") && code.contains("crate::query") {
                problems.push(format!("{rel}: the SQL layer names the query layer"));
            }
        }
        let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../orm-cache/src");
        let mut cache_files = Vec::new();
        sources(&cache, &mut cache_files);
        for file in cache_files {
            let code = code(&std::fs::read_to_string(&file).expect("read an orm-cache file"));
            for word in ["Database", "Entity", "Session", "orm_core"] {
                if names(&code, word) {
                    problems.push(format!("{}: orm-cache names `{word}`", file.display()));
                }
            }
        }
        assert!(
            problems.is_empty(),
            "the layering is broken:\n{}",
            problems.join("\n")
        );
    }

    fn layer_name(rel: &str) -> &'static str {
        if rel.starts_with("model") {
            "model"
        } else {
            "SQL layer"
        }
    }

    #[test]
    fn the_check_sees_a_violation() {
        // The detector itself: a layer-1 file using the session is caught.
        let code = code(
            "use crate::session::Session; // crate::query in a comment\nlet s = \"crate::query\";",
        );
        assert_eq!(crate_paths(&code), ["session"]);
        assert!(names(&code, "Session"));
        assert!(!names("EntityMeta", "Entity"));
    }
}
