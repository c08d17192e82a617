//! Headless Chromium from Debian (`.ci/run` installs it), for the tests that
//! need what a real browser does: render a page, send or withhold cookies.

use std::path::PathBuf;
use std::time::Duration;

/// Names another Chromium binary than `/usr/bin/chromium`.
pub const CHROMIUM_ENV: &str = "SWITCHYARD_CHROMIUM";

fn chromium() -> PathBuf {
    let path = std::env::var_os(CHROMIUM_ENV)
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "headless Chromium is required at {} for the browser tests: `apt-get install chromium` (.ci/run does), or set {CHROMIUM_ENV}",
        path.display()
    );
    path
}

/// Runs headless Chromium, with a fresh profile, on `url` with `extra`
/// arguments; its stdout.
pub async fn headless(url: &str, extra: &[String]) -> String {
    run(url, extra, None).await
}

/// `headless` with JavaScript blocked for every site, as a visitor who turned
/// it off. A content setting, not `--blink-settings=scriptEnabled=false`,
/// which also stops `--dump-dom` (it serializes the page with script).
pub async fn headless_without_javascript(url: &str, extra: &[String]) -> String {
    let prefs = r#"{"profile":{"default_content_setting_values":{"javascript":2}}}"#;
    run(url, extra, Some(prefs)).await
}

async fn run(url: &str, extra: &[String], preferences: Option<&str>) -> String {
    let profile = std::env::temp_dir().join(format!(
        "switchyard-chromium-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    if let Some(preferences) = preferences {
        std::fs::create_dir_all(profile.join("Default")).unwrap();
        std::fs::write(profile.join("Default").join("Preferences"), preferences).unwrap();
    }
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
            ])
            .args([
                "--no-first-run",
                "--disable-extensions",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finishes within 120 s")
    .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
