//! The browser suite: Debian's Chromium, driven over WebDriver by its chromedriver, against the
//! app on loopback. Every page a journey reaches is checked by axe-core (from the npm registry,
//! `tests/browser/package.json`) and saved as a screenshot under `target/screenshots/`.
//!
//! Without `chromium`, `chromedriver` or `npm`, the tests skip loudly on a developer's machine;
//! in CI (or with `SESAME_TEST_REQUIRE_BROWSER=1`) they fail instead.

mod admin;
mod keyboard;
mod people;
mod sessions;

use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How the browser is set up for a journey.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub viewport: Viewport,
    pub javascript: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewport {
    Desktop,
    /// 390 CSS pixels wide, as a current phone.
    Mobile,
}

impl Options {
    pub const DESKTOP: Options = Options {
        viewport: Viewport::Desktop,
        javascript: true,
    };
    /// On the phone, the dark theme too: axe-core checks its contrast.
    pub const MOBILE: Options = Options {
        viewport: Viewport::Mobile,
        javascript: true,
    };
    pub const NO_JAVASCRIPT: Options = Options {
        viewport: Viewport::Desktop,
        javascript: false,
    };

    fn label(&self) -> &'static str {
        match (self.viewport, self.javascript) {
            (Viewport::Desktop, true) => "desktop",
            (Viewport::Mobile, true) => "mobile-dark",
            (Viewport::Desktop, false) => "nojs",
            (Viewport::Mobile, false) => "mobile-nojs",
        }
    }
}

/// What the suite needs from the machine.
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
    /// axe-core's browser bundle.
    axe: String,
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tool(var: &str, default: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.into()));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} not found (set {var})", path.display()))
    }
}

/// axe-core, installed from the npm registry into `tests/browser/node_modules` on first use.
fn axe_source() -> Result<String, String> {
    let dir = manifest_dir().join("tests/browser");
    let file = dir.join("node_modules/axe-core/axe.min.js");
    if !file.is_file() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("npm is needed to install axe-core: {e}"))?;
        if !status.success() {
            return Err(format!("`npm ci` in {} failed: {status}", dir.display()));
        }
    }
    std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))
}

fn tools() -> Option<&'static Tools> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    let found = TOOLS.get_or_init(|| {
        Ok(Tools {
            chromium: tool("SESAME_TEST_CHROMIUM", "/usr/bin/chromium")?,
            chromedriver: tool("SESAME_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")?,
            axe: axe_source()?,
        })
    });
    match found {
        Ok(tools) => Some(tools),
        Err(error) => {
            let required = crate::helpers::in_ci()
                || std::env::var("SESAME_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
            assert!(!required, "the browser suite must run here, but: {error}");
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED a browser test: {error}. Install Debian's chromium and \
                 chromium-driver, and npm. ***\n"
            );
            None
        }
    }
}

/// A chromedriver process of the test's own, killed with its browsers when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(tools: &Tools) -> Driver {
        use std::os::unix::process::CommandExt;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that Drop takes Chromium down with it.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// A POST to `/session/{id}/{path}`: the WebDriver extensions chromedriver offers beyond
/// fantoccini's commands ("Set Permissions", `goog/cdp/execute` for DevTools).
#[derive(Debug)]
struct SessionPost {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for SessionPost {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// One browser with a fresh profile, and the pages it has checked.
pub struct Browser {
    client: Client,
    base: String,
    journey: String,
    pub options: Options,
    shots: u32,
    axe: &'static str,
    /// Dropped after the client: takes chromedriver and Chromium down even when a test fails.
    _driver: Driver,
}

pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

impl Browser {
    /// A new browser on the app at `base`, or None when the suite is skipped here.
    pub async fn open(journey: &str, base: &str, options: Options) -> Option<Browser> {
        let tools = tools()?;
        let driver = Driver::start(tools);
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--lang=en-US",
        ];
        if options.viewport == Viewport::Desktop {
            args.push("--window-size=1280,900");
        }
        let mut chrome = json!({
            "binary": tools.chromium,
            "args": args,
            "prefs": {"intl.accept_languages": "en-US"},
        });
        if options.viewport == Viewport::Mobile {
            chrome["mobileEmulation"] =
                json!({"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1.0}});
        }
        if !options.javascript {
            chrome["prefs"]["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), chrome);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a WebDriver session");
        if options.viewport == Viewport::Mobile {
            let dark = json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]});
            client
                .issue_cmd(SessionPost {
                    path: "goog/cdp/execute",
                    body: json!({"cmd": "Emulation.setEmulatedMedia", "params": dark}),
                })
                .await
                .expect("the dark theme");
        }
        Some(Browser {
            client,
            base: base.to_string(),
            journey: format!("{journey}-{}", options.label()),
            options,
            shots: 0,
            axe: &tools.axe,
            _driver: driver,
        })
    }

    pub async fn close(self) {
        let Browser { client, .. } = self;
        client.close().await.expect("the session closes");
    }

    pub async fn visit(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    }

    /// The current page's path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Asserts the browser is on `expected`; if not, says what the page shows instead.
    pub async fn expect_path(&self, expected: &str) {
        let path = self.path().await;
        if path != expected {
            let main = self.script("return document.body.innerText").await;
            panic!(
                "{}: expected {expected}, on {path}, showing: {main}",
                self.journey
            );
        }
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on {}: {e}", self.journey))
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .is_empty()
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// Asks `seen` every 25 ms until it gives `want` (at most 10 s): for what a script
    /// changes after an await.
    async fn wait_until(&self, what: &str, want: &str, mut seen: impl AsyncFnMut() -> String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = seen().await;
            if now == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what} shows {now:?}, not {want:?} ({})",
                self.journey
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn wait_for_text(&self, css: &str, want: &str) {
        self.wait_until(&format!("`{css}`"), want, async || self.text(css).await)
            .await;
    }

    pub async fn displayed(&self, css: &str) -> bool {
        self.find(css)
            .await
            .is_displayed()
            .await
            .expect("is_displayed")
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("typing");
    }

    /// Clicks a link or a submit button and waits for the page it leads to.
    pub async fn click(&self, css: &str) {
        self.script("window.__sesame_old_page = true").await;
        self.tap(css).await;
        self.wait_for_new_page().await;
    }

    /// Presses keys that lead to another page (Enter on a link or a button).
    pub async fn press_to_navigate(&self, keys: &str) {
        self.script("window.__sesame_old_page = true").await;
        self.press(keys).await;
        self.wait_for_new_page().await;
    }

    /// Waits until the window holds a new, loaded document. (Chromedriver does not always
    /// wait for a navigation that a click starts, e.g. under mobile emulation.)
    async fn wait_for_new_page(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let state = self
                .client
                .execute(
                    "return window.__sesame_old_page !== true && document.readyState === 'complete'",
                    vec![],
                )
                .await;
            // A script may fail while the old document goes away; ask again.
            if matches!(state, Ok(Value::Bool(true))) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no new page after the click",
                self.journey
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Scrolls the element into view and clicks it, as a user would; no page change expected.
    pub async fn tap(&self, css: &str) {
        let element = self.find(css).await;
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center'})",
                vec![serde_json::to_value(&element).unwrap()],
            )
            .await
            .expect("scroll");
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("click on `{css}`: {e}"));
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .expect("select");
    }

    /// A `type=date` field typed as a user in the en-US locale types it.
    pub async fn fill_date(&self, css: &str, date: chrono::NaiveDate) {
        let field = self.find(css).await;
        // Empty first: typing then starts at the month, whichever part was focused.
        field.clear().await.expect("clear the date");
        field
            .send_keys(&date.format("%m%d%Y").to_string())
            .await
            .expect("typing a date");
    }

    pub async fn script(&self, js: &str) -> Value {
        self.client.execute(js, vec![]).await.expect("a script")
    }

    pub async fn grant_clipboard(&self) {
        for name in ["clipboard-read", "clipboard-write"] {
            self.client
                .issue_cmd(SessionPost {
                    path: "permissions",
                    body: json!({"descriptor": {"name": name}, "state": "granted"}),
                })
                .await
                .expect("clipboard permission");
        }
    }

    pub async fn wait_for_clipboard(&self, want: &str) {
        self.wait_until("the clipboard", want, async || self.clipboard().await)
            .await;
    }

    pub async fn clipboard(&self) -> String {
        let read = "const done = arguments[arguments.length - 1];\
                    navigator.clipboard.readText().then(done, e => done('ERROR ' + e));";
        let value = self.client.execute_async(read, vec![]).await.expect("read");
        value.as_str().expect("clipboard text").to_string()
    }

    /// Presses keys on whatever has the focus (Tab, Enter, letters), as on a keyboard.
    pub async fn press(&self, keys: &str) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut actions = KeyActions::new("keyboard".into());
        for key in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value: key })
                .then(KeyAction::Up { value: key });
        }
        self.client
            .perform_actions(actions)
            .await
            .expect("key presses");
    }

    /// Presses Tab until the focus is on `css` (at most 60 times), checking on the way that
    /// every focused element shows where the focus is.
    pub async fn tab_to(&self, css: &str) {
        for _ in 0..60 {
            self.press(TAB).await;
            let state = self
                .client
                .execute(
                    "const e = document.activeElement; const s = getComputedStyle(e);\
                     return {matches: e.matches(arguments[0]),\
                             visible: e === document.body\
                                      || s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0\
                                      || s.boxShadow !== 'none',\
                             what: e.outerHTML.slice(0, 120)};",
                    vec![json!(css)],
                )
                .await
                .expect("the focused element");
            assert_eq!(
                state["visible"],
                json!(true),
                "no visible focus on {} ({})",
                state["what"],
                self.journey
            );
            if state["matches"] == json!(true) {
                return;
            }
        }
        panic!("Tab never reached `{css}` on {}", self.path().await);
    }

    /// Checks the page a journey has reached: axe-core finds no serious or critical
    /// violation, nothing overflows a phone's width, and a screenshot is saved.
    pub async fn check_page(&mut self, label: &str) {
        let path = self.path().await;
        self.shots += 1;
        let shot = self.client.screenshot().await.expect("a screenshot");
        let dir = manifest_dir().join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{}-{:02}-{label}.png", self.journey, self.shots));
        std::fs::write(&file, shot).unwrap();

        if self.options.viewport == Viewport::Mobile {
            let widths = self
                .script("return [document.documentElement.scrollWidth, window.innerWidth]")
                .await;
            assert_eq!(widths[1], json!(390), "the mobile viewport is 390 px wide");
            assert!(
                widths[0].as_i64() <= widths[1].as_i64(),
                "{path} is wider than the phone: {widths} ({})",
                self.journey
            );
            // The header takes at most 15 % of a 390 x 844 screen.
            let header = self
                .script("return document.querySelector('header').getBoundingClientRect().height")
                .await
                .as_f64()
                .unwrap();
            assert!(
                header <= 0.15 * 844.0,
                "{path}: the header is {header} px high ({})",
                self.journey
            );
        }

        if !self.options.javascript {
            // axe-core needs the page's JavaScript; the same pages are checked with it on.
            return;
        }
        if self.script("return typeof axe").await != json!("object") {
            self.client
                .execute(self.axe, vec![])
                .await
                .expect("axe-core loads");
        }
        let run = "const done = arguments[arguments.length - 1];\
                   axe.run(document, {resultTypes: ['violations']}).then(r => done(\
                     r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')\
                       .map(v => ({rule: v.id, impact: v.impact, help: v.help,\
                                   nodes: v.nodes.slice(0, 3).map(n => n.html)}))),\
                   e => done([{rule: 'axe failed', help: String(e)}]));";
        let violations = self
            .client
            .execute_async(run, vec![])
            .await
            .expect("axe runs");
        assert_eq!(
            violations,
            json!([]),
            "axe-core: serious or critical violations on {path} ({}, {})",
            self.journey,
            file.display()
        );
    }
}

/// The credentials a credentials page shows.
pub async fn shown_credentials(browser: &Browser) -> (String, String) {
    (
        browser.text("#token-username").await,
        browser.text("#token-password").await,
    )
}

/// Calls the token API as a client program would, with the credentials a page showed.
pub async fn whoami(base: &str, (username, password): &(String, String)) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/whoami"))
        .basic_auth(username, Some(password))
        .send()
        .await
        .expect("the token API answers")
}
