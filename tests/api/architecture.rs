//! Architecture rules, checked by reading the sources under `src/` (std only, no parser):
//! no import cycles across folders, a database layer and an error type that know nothing
//! of the web, short functions, and a route module that is only the route table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 80;

/// One `.rs` file under `src/`.
struct Source {
    /// Relative to the crate, for messages: `src/db/tokens.rs`.
    file: String,
    /// `db::tokens` as `["db", "tokens"]`; empty for `lib.rs` and `main.rs`.
    module: Vec<String>,
    text: String,
}

impl Source {
    fn name(&self) -> String {
        self.module.join("::")
    }

    fn is_root(&self) -> bool {
        self.module.is_empty()
    }

    /// The code the crate itself is built from: comments and literals blanked, and the unit
    /// tests (from a column-0 `#[cfg(test)]` to the end) left out.
    fn non_test_code(&self) -> String {
        let code = code_only(&self.text);
        match code.lines().position(|line| line == "#[cfg(test)]") {
            Some(n) => code.lines().take(n).collect::<Vec<_>>().join("\n"),
            None => code,
        }
    }
}

/// `option_env!` so the file also runs alone (`rustc --test`), outside cargo.
fn src_dir() -> PathBuf {
    Path::new(option_env!("CARGO_MANIFEST_DIR").unwrap_or("/work/main")).join("src")
}

fn sources() -> Vec<Source> {
    let root = src_dir();
    let mut files = Vec::new();
    collect_rs(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(&root).unwrap();
            Source {
                file: format!("src/{}", rel.display()),
                module: module_of(rel),
                text: std::fs::read_to_string(&path).unwrap(),
            }
        })
        .collect()
}

fn collect_rs(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// `db/tokens.rs` is `db::tokens`, `db/mod.rs` is `db`, `lib.rs` and `main.rs` the root.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    match last.trim_end_matches(".rs") {
        "mod" => {}
        "lib" | "main" if parts.is_empty() => {}
        stem => parts.push(stem.to_string()),
    }
    parts
}

/// The source with comments, string and char literals blanked (newlines kept, so line
/// numbers still hold): a brace or a path inside them is not code.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        match literal_end(&c, i) {
            Some(end) => {
                out.extend(
                    c[i..end]
                        .iter()
                        .map(|&ch| if ch == '\n' { '\n' } else { ' ' }),
                );
                i = end;
            }
            None => {
                out.push(c[i]);
                i += 1;
            }
        }
    }
    out
}

/// Where the comment or literal starting at `i` ends (exclusive); `None` if none starts.
fn literal_end(c: &[char], i: usize) -> Option<usize> {
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    let find = |from: usize, ch: char| {
        (from..c.len())
            .find(|&k| c[k] == ch)
            .map_or(c.len(), |k| k + 1)
    };
    // A prefix (`r`, `b`, `br`) only counts at the start of a token, not inside `bar"`.
    let starts_token = i == 0 || !(at(i - 1).is_alphanumeric() || at(i - 1) == '_');
    match (at(i), at(i + 1)) {
        ('/', '/') => Some((i..c.len()).find(|&k| c[k] == '\n').unwrap_or(c.len())),
        ('/', '*') => {
            // Block comments nest.
            let (mut depth, mut k) = (0, i);
            while k < c.len() {
                match (c[k], at(k + 1)) {
                    ('/', '*') => (depth, k) = (depth + 1, k + 2),
                    ('*', '/') if depth == 1 => return Some(k + 2),
                    ('*', '/') => (depth, k) = (depth - 1, k + 2),
                    _ => k += 1,
                }
            }
            Some(c.len())
        }
        ('"', _) => {
            let mut k = i + 1;
            while k < c.len() && c[k] != '"' {
                k += if c[k] == '\\' { 2 } else { 1 };
            }
            Some((k + 1).min(c.len()))
        }
        ('r', '"' | '#') if starts_token => raw_string_end(c, i),
        ('b', 'r') if starts_token => raw_string_end(c, i + 1),
        ('b', '"' | '\'') if starts_token => literal_end(c, i + 1),
        ('\'', '\\') => Some(find(i + 3, '\'')),
        ('\'', _) if at(i + 2) == '\'' => Some(i + 3),
        _ => None, // includes lifetimes, `'a`
    }
}

/// `r"…"`, `r#"…"#`: from the `r` at `i` to the quote closing it with as many `#`.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let hashes = c[i + 1..].iter().take_while(|&&ch| ch == '#').count();
    if c.get(i + 1 + hashes) != Some(&'"') {
        return None; // a raw identifier, `r#type`
    }
    let close: Vec<char> = format!("\"{}", "#".repeat(hashes)).chars().collect();
    let from = i + 2 + hashes;
    Some(
        (from..c.len())
            .find(|&k| c[k..].starts_with(&close))
            .map_or(c.len(), |k| k + close.len()),
    )
}

/// Identifiers, `::`, and single punctuation characters.
fn tokens(code: &str) -> Vec<String> {
    let c: Vec<char> = code.chars().collect();
    let word = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let start = i;
        if c[i].is_whitespace() {
            i += 1;
            continue;
        } else if word(c[i]) {
            while i < c.len() && word(c[i]) {
                i += 1;
            }
        } else if c[i..].starts_with(&[':', ':']) {
            i += 2;
        } else {
            i += 1;
        }
        out.push(c[start..i].iter().collect());
    }
    out
}

/// Every module path the code names, made absolute: `crate::…`, `super::…`, `self::…`, and
/// paths through the file's own child modules (`tokens::create_token` in `routes/mod.rs`),
/// with `use` groups expanded. A `mod x;` declaration alone is not a use.
fn paths_used(source: &Source, code: &str) -> Vec<Vec<String>> {
    let t = tokens(code);
    let children = declared_children(&t);
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let prev = if i > 0 { t[i - 1].as_str() } else { "" };
        let next = t.get(i + 1).map_or("", String::as_str);
        let root = match t[i].as_str() {
            "crate" | "super" | "self" => next == "::",
            name => children.contains(name) && (next == "::" || prev == "use"),
        };
        if root && prev != "::" && prev != "." {
            i = parse_path(&t, i, source.module.clone(), &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Names declared by `mod x;` in this file (its child files).
fn declared_children(t: &[String]) -> BTreeSet<String> {
    (1..t.len().saturating_sub(1))
        .filter(|&i| t[i - 1] == "mod" && t[i + 1] == ";")
        .map(|i| t[i].clone())
        .collect()
}

/// Parses `a::b::{c, d::{self, e}}` from `t[i]`, pushing each full path onto `out`;
/// returns the index after it.
fn parse_path(
    t: &[String],
    mut i: usize,
    mut path: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        match t.get(i).map(String::as_str) {
            Some("crate") => path.clear(),
            Some("super") => {
                path.pop();
            }
            Some("self" | "*") => {}
            Some("{") => return parse_group(t, i + 1, &path, out),
            Some(s) if s.starts_with(|ch: char| ch.is_alphabetic() || ch == '_') => {
                path.push(s.to_string())
            }
            _ => break,
        }
        i += 1;
        if t.get(i).map(String::as_str) != Some("::") {
            break;
        }
        i += 1;
    }
    out.push(path);
    i
}

/// The items of a `{…}` group after `prefix::`, each up to its `,` (skipping `as alias`).
fn parse_group(t: &[String], mut i: usize, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
    while i < t.len() && t[i] != "}" {
        if t[i] != "," {
            i = parse_path(t, i, prefix.to_vec(), out);
        }
        while i < t.len() && t[i] != "," && t[i] != "}" {
            i += 1;
        }
        if i < t.len() && t[i] == "," {
            i += 1;
        }
    }
    i + 1
}

/// Module → modules it uses: each path goes to its longest prefix that is a file.
fn module_graph(sources: &[Source]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = sources
        .iter()
        .filter(|s| !s.is_root())
        .map(Source::name)
        .collect();
    let mut graph = BTreeMap::new();
    for source in sources.iter().filter(|s| !s.is_root()) {
        let name = source.name();
        let uses: BTreeSet<String> = paths_used(source, &source.non_test_code())
            .iter()
            .filter_map(|path| {
                (1..=path.len())
                    .rev()
                    .map(|n| path[..n].join("::"))
                    .find(|m| modules.contains(m))
            })
            .filter(|m| *m != name)
            .collect();
        graph.insert(name, uses);
    }
    graph
}

/// Tarjan's strongly connected components with more than one member (the cycles).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            let graph = self.graph;
            for w in &graph[v] {
                if !self.index.contains_key(w.as_str()) {
                    self.visit(w);
                    self.low.insert(v, self.low[v].min(self.low[w.as_str()]));
                } else if self.stack.contains(&w.as_str()) {
                    self.low.insert(v, self.low[v].min(self.index[w.as_str()]));
                }
            }
            if self.low[v] == self.index[v] {
                let at = self.stack.iter().rposition(|&m| m == v).unwrap();
                let mut component: Vec<String> = self.stack.drain(at..).map(String::from).collect();
                component.sort();
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !tarjan.index.contains_key(v.as_str()) {
            tarjan.visit(v);
        }
    }
    tarjan.found
}

/// A folder's `mod.rs` may use its files and they it: such a cycle stays inside one
/// folder. A top-level file's folder is the crate root, which gets no such pass.
fn within_one_folder(component: &[String]) -> bool {
    let parent = |m: &str| m.rsplit_once("::").map_or("", |(p, _)| p).to_string();
    // The folder's own `mod.rs` must be in it: two sibling files leaning on each other
    // are a circle like any other.
    component.iter().any(|folder| {
        !folder.is_empty()
            && component
                .iter()
                .all(|m| m == folder || parent(m) == *folder)
    })
}

#[test]
fn no_import_cycles_between_files() {
    let graph = module_graph(&sources());
    let mut report = String::new();
    for component in cycles(&graph).iter().filter(|c| !within_one_folder(c)) {
        report += &format!(
            "\n  cycle of {}: {}\n",
            component.len(),
            component.join(", ")
        );
        for m in component {
            let inside: Vec<&str> = graph[m]
                .iter()
                .filter(|w| component.contains(w))
                .map(String::as_str)
                .collect();
            report += &format!("    {m} -> {}\n", inside.join(", "));
        }
    }
    assert!(
        report.is_empty(),
        "Modules that import each other across folders (only a folder's mod.rs and its own \
         files may). Break each cycle: move what both sides need into a lower module, or \
         pass it in rather than import it. Under each cycle, a module -> the members it uses:\n{report}"
    );
}

/// What a file's non-test code mentions of the given crates and top-level modules.
fn mentions(source: &Source, crates: &[&str], modules: &[&str]) -> BTreeSet<String> {
    let code = source.non_test_code();
    let mut found: BTreeSet<String> = tokens(&code)
        .into_iter()
        .filter(|t| crates.contains(&t.as_str()))
        .collect();
    for path in paths_used(source, &code) {
        let path = path.join("::");
        // A module names a folder or a file: `auth` also matches `auth::guards::X`.
        for module in modules {
            if path == *module || path.starts_with(&format!("{module}::")) {
                found.insert(format!("crate::{module}"));
            }
        }
    }
    found
}

fn offenders(list: impl IntoIterator<Item = String>) -> String {
    list.into_iter().map(|line| format!("\n  {line}")).collect()
}

#[test]
fn the_database_layer_knows_nothing_of_the_web() {
    let found = layer_breaches(
        "src/db/",
        &["actix_web", "actix_session", "askama"],
        &[
            "routes", "views", "auth", "startup", "state", "services", "error",
        ],
    );
    assert!(
        found.is_empty(),
        "src/db/ must not know of the web (HTTP, sessions, templates, handlers); take plain \
         values in and return them, and let the caller adapt:{}",
        offenders(found)
    );
}

/// Files under `folder` that mention what they must not; one line per mention.
fn layer_breaches(folder: &str, crates: &[&str], modules: &[&str]) -> Vec<String> {
    sources()
        .iter()
        .filter(|s| s.file.starts_with(folder))
        .flat_map(|s| {
            mentions(s, crates, modules)
                .into_iter()
                .map(move |m| format!("{}: {m}", s.file))
        })
        .collect()
}

#[test]
fn the_domain_types_know_neither_the_web_nor_the_database_layer() {
    let found = layer_breaches(
        "src/domain/",
        &["actix_web", "actix_session", "askama"],
        &[
            "db", "routes", "views", "auth", "startup", "state", "services", "tokens",
        ],
    );
    assert!(
        found.is_empty(),
        "src/domain/ is the bottom layer: plain types and their rules, which everything \
         else may use; it uses nothing of the product's own:{}",
        offenders(found)
    );
}

#[test]
fn the_services_know_nothing_of_http() {
    let found = layer_breaches(
        "src/services/",
        &["actix_web", "actix_session", "askama"],
        &[
            "routes",
            "views",
            "startup",
            "state",
            "auth::guards",
            "auth::session",
        ],
    );
    assert!(
        found.is_empty(),
        "src/services/ holds the rules for changing things; handlers call it with command \
         values, so it must not know requests, sessions or pages:{}",
        offenders(found)
    );
}

#[test]
fn backend_specific_code_lives_under_db() {
    let backend_words = [
        "DbConn::Sqlite",
        "DbConn::Pg",
        "SqliteConnection",
        "PgConnection",
        "sql_query",
        "batch_execute",
        "PRAGMA",
        "VACUUM",
    ];
    let found: Vec<String> = sources()
        .iter()
        .filter(|s| !s.file.starts_with("src/db/"))
        .flat_map(|s| {
            // SQL hides in strings, which `non_test_code` blanks: read the text itself, up
            // to the unit tests.
            let text = s
                .text
                .split("\n#[cfg(test)]\n")
                .next()
                .unwrap_or("")
                .to_string();
            backend_words
                .iter()
                .filter(move |word| text.contains(*word))
                .map(move |word| format!("{}: {word}", s.file))
        })
        .collect();
    assert!(
        found.is_empty(),
        "SQL text and the choice between SQLite and PostgreSQL belong in src/db/; give the \
         caller a function there instead:{}",
        offenders(found)
    );
}

#[test]
fn errors_are_rendered_at_the_edge() {
    let sources = sources();
    let error = sources
        .iter()
        .find(|s| s.file == "src/error.rs")
        .expect("src/error.rs holds `AppError`; if it moved, point this test at it");
    let found = mentions(error, &["actix_web", "askama"], &["views"]);
    assert!(
        found.is_empty(),
        "src/error.rs must not know how errors are shown; map `AppError` to a response in \
         `views` (the edge) instead:{}",
        offenders(found)
    );
}

/// The name if `line` starts a function: `pub(crate) async fn name`.
fn fn_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    if let Some(r) = rest.strip_prefix("pub") {
        rest = r
            .strip_prefix("(crate)")
            .or_else(|| r.strip_prefix("(super)"))
            .unwrap_or(r);
        if rest.len() == r.len() && !r.starts_with(' ') {
            return None; // `public…`, not `pub`
        }
        rest = rest.trim_start();
    }
    while let Some(r) = ["async ", "const ", "unsafe "]
        .iter()
        .find_map(|q| rest.strip_prefix(q))
    {
        rest = r.trim_start();
    }
    let name = rest.strip_prefix("fn ")?.trim_start();
    let end = name
        .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
        .unwrap_or(name.len());
    (end > 0).then_some(&name[..end])
}

/// Lines from `fn` to the closing brace of its body, or `None` for a declaration (`;`).
fn fn_length(code: &[char], start: usize) -> Option<usize> {
    // The body is the first `{` outside the signature's brackets (`[u8; 4]` has a `;`).
    let mut nesting = 0i32;
    let mut k = start;
    loop {
        match *code.get(k)? {
            '(' | '[' => nesting += 1,
            ')' | ']' => nesting -= 1,
            ';' if nesting == 0 => return None,
            '{' if nesting == 0 => break,
            _ => {}
        }
        k += 1;
    }
    let mut depth = 0;
    for (end, &ch) in code.iter().enumerate().skip(k) {
        depth += match ch {
            '{' => 1,
            '}' => -1,
            _ => 0,
        };
        if depth == 0 {
            return Some(1 + code[start..end].iter().filter(|&&ch| ch == '\n').count());
        }
    }
    None
}

#[test]
fn no_function_over_80_lines() {
    let mut long = Vec::new();
    for source in sources() {
        let code: Vec<char> = code_only(&source.text).chars().collect();
        let mut offset = 0;
        for (n, line) in code.split(|&ch| ch == '\n').enumerate() {
            let text: String = line.iter().collect();
            if let Some(name) = fn_name(&text) {
                if let Some(lines) = fn_length(&code, offset).filter(|&l| l > MAX_FN_LINES) {
                    long.push(format!("{}:{} {name} ({lines} lines)", source.file, n + 1));
                }
            }
            offset += line.len() + 1;
        }
    }
    assert!(
        long.is_empty(),
        "Functions over {MAX_FN_LINES} lines are hard to review and to test; split each into \
         named steps:{}",
        offenders(long)
    );
}

/// The top-level items of the code, attributes dropped: `pub mod api;`, `fn configure(…) {…}`.
fn top_level_items(code: &str) -> Vec<String> {
    let mut items = Vec::new();
    let (mut depth, mut item) = (0, String::new());
    for ch in code.chars() {
        item.push(ch);
        match ch {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
        // An attribute ends at its `]`; an item at its `;` or its closing `}`.
        let attribute = item.trim_start().starts_with('#');
        if depth == 0 && (matches!(ch, ';' | '}') || (ch == ']' && attribute)) {
            let text = item.trim().to_string();
            if !attribute && text != ";" {
                items.push(text);
            }
            item.clear();
        }
    }
    items
}

#[test]
fn the_route_module_is_only_the_route_table() {
    let sources = sources();
    let routes = sources
        .iter()
        .find(|s| s.file == "src/routes/mod.rs")
        .expect("src/routes/mod.rs holds the route table; if it moved, point this test at it");
    let found: Vec<String> = top_level_items(&routes.non_test_code())
        .into_iter()
        .filter(|item| {
            let words: Vec<&str> = item.split_whitespace().collect();
            let kind = words
                .iter()
                .position(|w| !w.starts_with("pub"))
                .map(|k| &words[k..])
                .unwrap_or(&[]);
            let declaration = item.ends_with(';');
            !matches!(kind, ["mod", ..] | ["use", ..] if declaration)
                && fn_name(item) != Some("configure")
        })
        .map(|item| match fn_name(&item) {
            Some(name) => format!("fn {name}"),
            None => item.lines().next().unwrap_or("").to_string(),
        })
        .collect();
    assert!(
        found.is_empty(),
        "src/routes/mod.rs holds only the route table: `mod` declarations, `use`, and \
         `configure`. Move these into the module that uses them (or a new one under \
         routes/):{}",
        offenders(found)
    );
}
