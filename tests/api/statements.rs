//! The SQL statements a request runs, captured through diesel's instrumentation, and what
//! the database plans to do with each (SQLite's `EXPLAIN QUERY PLAN`, PostgreSQL's
//! `EXPLAIN ANALYZE`).

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

/// Statements captured per database URL, for the URLs being captured.
static CAPTURED: Mutex<Option<HashMap<String, Vec<String>>>> = Mutex::new(None);
/// A fast path for the other tests' connections: nothing is being captured.
static CAPTURING: AtomicBool = AtomicBool::new(false);

/// Gives every connection opened from now on in this process a recorder. Call before the
/// app under test starts (its pool opens connections at once).
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        diesel::connection::set_default_instrumentation(|| {
            Some(Box::new(Recorder { url: None }) as Box<dyn Instrumentation>)
        })
        .expect("instrumentation installed");
    });
}

struct Recorder {
    url: Option<String>,
}

impl Instrumentation for Recorder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartEstablishConnection { url, .. } => {
                self.url = Some(url.to_string());
            }
            InstrumentationEvent::StartQuery { query, .. } => {
                if !CAPTURING.load(Ordering::Relaxed) || in_background_worker() {
                    return;
                }
                let Some(url) = &self.url else { return };
                let mut captured = CAPTURED.lock().unwrap();
                if let Some(statements) = captured.as_mut().and_then(|c| c.get_mut(url)) {
                    statements.push(query.to_string());
                }
            }
            _ => {}
        }
    }
}

/// The server's own background threads (the scheduler, the use recorder, direct mail) are
/// not requests: a scheduler tick that a new token woke may still be delivering while the
/// pages are captured (it was, in one run, and its statements were blamed on a page).
fn in_background_worker() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|name| name.starts_with("sesame-"))
}

/// Records the statements run on connections to `url` until `take`.
pub struct Capture {
    url: String,
}

impl Capture {
    pub fn start(url: &str) -> Self {
        let mut captured = CAPTURED.lock().unwrap();
        captured
            .get_or_insert_with(HashMap::new)
            .insert(url.to_string(), Vec::new());
        CAPTURING.store(true, Ordering::Relaxed);
        Capture {
            url: url.to_string(),
        }
    }

    /// The statements run since the start (or the last take), as `(sql, binds)`.
    pub fn take(&self) -> Vec<Statement> {
        let mut captured = CAPTURED.lock().unwrap();
        let statements = captured
            .as_mut()
            .and_then(|c| c.get_mut(&self.url))
            .map(std::mem::take)
            .unwrap_or_default();
        statements.iter().map(|s| Statement::parse(s)).collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let mut captured = CAPTURED.lock().unwrap();
        if let Some(c) = captured.as_mut() {
            c.remove(&self.url);
            CAPTURING.store(!c.is_empty(), Ordering::Relaxed);
        }
    }
}

/// A captured statement: its SQL and its bind values (as diesel prints them).
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: String,
    pub binds: Vec<Bind>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Null,
    /// A string, number, time or flag, as text.
    Value(String),
    List(Vec<Bind>),
}

impl Statement {
    /// Splits diesel's `SQL -- binds: [..]` display.
    fn parse(shown: &str) -> Self {
        let (sql, binds) = shown.rsplit_once(" -- binds: ").unwrap_or((shown, "[]"));
        let mut chars = binds.chars().peekable();
        let binds = match parse_bind(&mut chars) {
            Bind::List(binds) => binds,
            other => panic!("binds are a list: {other:?} in {shown}"),
        };
        Statement {
            sql: sql.to_string(),
            binds,
        }
    }

    pub fn is_select(&self) -> bool {
        self.sql.trim_start().to_uppercase().starts_with("SELECT")
    }
}

/// One value of Rust's `Debug` output: a string, `None`, `Some(..)`, a list, or a bare word
/// (number, time, boolean).
fn parse_bind(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Bind {
    while chars.peek() == Some(&' ') {
        chars.next();
    }
    match chars.peek() {
        Some('"') => {
            chars.next();
            let mut text = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => text.push('\n'),
                        Some('r') => text.push('\r'),
                        Some('t') => text.push('\t'),
                        Some('0') => text.push('\0'),
                        Some('u') => {
                            let code: String =
                                chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                            let code = u32::from_str_radix(&code, 16).unwrap();
                            text.push(char::from_u32(code).unwrap());
                        }
                        Some(other) => text.push(other),
                        None => break,
                    },
                    other => text.push(other),
                }
            }
            Bind::Value(text)
        }
        Some('[') => {
            chars.next();
            let mut items = Vec::new();
            loop {
                while chars.peek() == Some(&' ') {
                    chars.next();
                }
                match chars.peek() {
                    Some(']') => {
                        chars.next();
                        break;
                    }
                    Some(',') => {
                        chars.next();
                    }
                    None => break,
                    _ => items.push(parse_bind(chars)),
                }
            }
            Bind::List(items)
        }
        _ => {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if matches!(c, ',' | ']' | ')') {
                    break;
                }
                chars.next();
                if c == '(' {
                    // Some(x): the value inside.
                    let inner = parse_bind(chars);
                    chars.next(); // ')'
                    return inner;
                }
                word.push(c);
            }
            match word.trim() {
                "None" => Bind::Null,
                word => Bind::Value(word.to_string()),
            }
        }
    }
}

/// A PostgreSQL literal for a bind, typed by the prepared statement it is passed to.
fn pg_literal(bind: &Bind) -> String {
    let quote = |text: &str| format!("'{}'", text.replace('\'', "''"));
    match bind {
        Bind::Null => "NULL".into(),
        Bind::Value(text) => quote(text),
        Bind::List(items) => {
            let elements: Vec<String> = items
                .iter()
                .map(|item| match item {
                    Bind::Value(text) => {
                        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
                    }
                    _ => "NULL".into(),
                })
                .collect();
            quote(&format!("{{{}}}", elements.join(",")))
        }
    }
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

/// SQLite's plan for a statement, one line per step (`SCAN …`, `SEARCH … USING INDEX …`).
/// The parameters stay unbound: SQLite plans without looking at their values.
pub fn sqlite_plan(conn: &mut diesel::SqliteConnection, sql: &str) -> Vec<String> {
    diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .load::<PlanLine>(conn)
        .unwrap_or_else(|e| panic!("EXPLAIN QUERY PLAN {sql}: {e}"))
        .into_iter()
        .map(|l| l.detail)
        .collect()
}

#[derive(QueryableByName)]
struct JsonPlan {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    plan: String,
}

/// PostgreSQL's executed plan for a statement with its own bind values, as the JSON of
/// `EXPLAIN (ANALYZE, FORMAT JSON)`.
pub fn pg_plan(conn: &mut diesel::PgConnection, statement: &Statement) -> serde_json::Value {
    diesel::sql_query(format!("PREPARE guarded AS {}", statement.sql))
        .execute(conn)
        .unwrap_or_else(|e| panic!("PREPARE {}: {e}", statement.sql));
    let arguments: Vec<String> = statement.binds.iter().map(pg_literal).collect();
    let execute = if arguments.is_empty() {
        "EXECUTE guarded".to_string()
    } else {
        format!("EXECUTE guarded({})", arguments.join(", "))
    };
    let plan = diesel::sql_query(format!("EXPLAIN (ANALYZE, FORMAT JSON) {execute}"))
        .get_result::<JsonPlan>(conn)
        .unwrap_or_else(|e| panic!("EXPLAIN {execute} for {}: {e}", statement.sql));
    diesel::sql_query("DEALLOCATE guarded")
        .execute(conn)
        .unwrap();
    serde_json::from_str(&plan.plan).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_are_read_back_from_diesels_debug_output() {
        let statement = Statement::parse(
            r#"SELECT 1 WHERE a = $1 AND b = ANY($2) -- binds: ["it's \"x\"\n", ["a", "b"], 25, 2026-01-02T03:04:05.123, Some("s"), None, true]"#,
        );
        assert_eq!(statement.sql, "SELECT 1 WHERE a = $1 AND b = ANY($2)");
        assert_eq!(
            statement.binds,
            [
                Bind::Value("it's \"x\"\n".into()),
                Bind::List(vec![Bind::Value("a".into()), Bind::Value("b".into())]),
                Bind::Value("25".into()),
                Bind::Value("2026-01-02T03:04:05.123".into()),
                Bind::Value("s".into()),
                Bind::Null,
                Bind::Value("true".into()),
            ]
        );
        assert_eq!(pg_literal(&statement.binds[0]), "'it''s \"x\"\n'");
        assert_eq!(pg_literal(&statement.binds[1]), r#"'{"a","b"}'"#);
    }
}
