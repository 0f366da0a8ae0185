//! Headless Chromium over WebDriver (chromium-driver on a loopback port), for the tests that
//! drive the emulator's pages in a real browser. `scripts/test` installs chromium and
//! chromium-driver; `SSO_AGENT_SKIP_BROWSER=1` skips the browser tests where they are missing.

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMEDRIVER: &str = "chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process on a loopback port and a headless Chromium session through it.
pub struct HeadlessChromium {
    driver: Child,
    browser: Option<Browser>,
}

impl HeadlessChromium {
    pub async fn start() -> Option<Self> {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let driver = match Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(driver) => driver,
            Err(err) if std::env::var_os("SSO_AGENT_SKIP_BROWSER").is_some() => {
                eprintln!("SKIPPED: no chromedriver ({err}) and SSO_AGENT_SKIP_BROWSER is set");
                return None;
            }
            Err(err) => panic!(
                "cannot run chromedriver ({err}): install chromium and chromium-driver \
                 (scripts/test does), or set SSO_AGENT_SKIP_BROWSER=1 to skip browser tests"
            ),
        };
        let mut chromium = HeadlessChromium {
            driver,
            browser: None,
        };
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": CHROMIUM, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=720,600", "--no-first-run"]}),
        );
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver needs a moment to listen; bounded: 100 tries, 10 s in all.
        for _ in 0..100 {
            match ClientBuilder::rustls()
                .unwrap()
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(browser) => {
                    chromium.browser = Some(browser);
                    return Some(chromium);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("chromedriver did not accept a session on {url}");
    }

    pub fn browser(&self) -> &Browser {
        self.browser.as_ref().unwrap()
    }

    /// The element with `id`, waiting (10 s at most) for a navigation to bring it.
    pub async fn element(&self, id: &str) -> fantoccini::elements::Element {
        self.browser()
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id(id))
            .await
            .unwrap_or_else(|err| panic!("no #{id} on the page: {err}"))
    }

    pub async fn click(&self, id: &str) {
        self.element(id).await.click().await.unwrap();
    }

    pub async fn text_of(&self, id: &str) -> String {
        self.element(id).await.text().await.unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(browser) = self.browser.take() {
            let _ = browser.close().await;
        }
    }
}

impl Drop for HeadlessChromium {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
