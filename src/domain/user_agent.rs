//! A browser and operating system in words ("Chrome on macOS"), read from a User-Agent
//! header. Only for people to recognise their sessions: the header is the client's claim,
//! so nothing is decided by it but whether a sign-in looks like a new device.

/// What a session list and the new-device e-mail name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserAndOs {
    pub browser: &'static str,
    pub os: &'static str,
}

impl BrowserAndOs {
    pub fn from_user_agent(header: &str) -> Self {
        Self {
            browser: browser(header),
            os: os(header),
        }
    }
}

/// Where a sign-in comes from: the client's address, and its browser and OS.
#[derive(Debug, Clone)]
pub struct SignInFrom {
    pub ip: Option<String>,
    pub device: BrowserAndOs,
}

impl std::fmt::Display for BrowserAndOs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.browser, self.os)
    }
}

/// The first product that names the browser: most browsers also claim to be the ones they
/// grew from (every Chrome says "Safari", every Edge says "Chrome"), so order matters.
fn browser(ua: &str) -> &'static str {
    const BROWSERS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("EdgA/", "Edge"),
        ("EdgiOS/", "Edge"),
        ("OPR/", "Opera"),
        ("Vivaldi/", "Vivaldi"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("HeadlessChrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Version/", "Safari"),
        ("curl/", "curl"),
    ];
    BROWSERS
        .iter()
        .find(|(marker, _)| ua.contains(marker))
        .map_or("an unknown browser", |(_, name)| name)
}

fn os(ua: &str) -> &'static str {
    const SYSTEMS: &[(&str, &str)] = &[
        ("Windows", "Windows"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Android", "Android"),
        ("CrOS", "ChromeOS"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
        ("FreeBSD", "FreeBSD"),
    ];
    SYSTEMS
        .iter()
        .find(|(marker, _)| ua.contains(marker))
        .map_or("an unknown system", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_browsers_are_named_in_words() {
        let cases = [
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on macOS"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari on iOS"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36", "Chrome on Linux"),
            ("curl/8.5.0", "curl on an unknown system"),
            ("", "an unknown browser on an unknown system"),
        ];
        for (header, words) in cases {
            assert_eq!(
                BrowserAndOs::from_user_agent(header).to_string(),
                words,
                "{header}"
            );
        }
    }
}
