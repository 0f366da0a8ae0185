//! Logging setup: `tracing` to stderr, level from `SSO_AGENT_LOG` (default `info`).
//!
//! The AWS SDK logs whole requests, headers included, at TRACE: the sso portal's bearer token
//! would be in them. Those events are dropped whatever `SSO_AGENT_LOG` asks for.

use tracing::level_filters::LevelFilter;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::{self, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, Layer};

/// False for the events that may carry secrets: TRACE from the SDK's HTTP machinery.
pub fn may_log(metadata: &Metadata<'_>) -> bool {
    !(*metadata.level() == Level::TRACE
        && ["aws_smithy", "aws_sdk", "aws_runtime", "hyper", "h2"]
            .iter()
            .any(|prefix| metadata.target().starts_with(prefix)))
}

fn info() -> Targets {
    Targets::new().with_default(Level::INFO)
}

/// `SSO_AGENT_LOG`: a level, or `target=level` directives (unset or empty: `info`). `Targets` is
/// what the agent's own log needs, without EnvFilter's span and field matching and the regex
/// engine it links. `None` for anything else: EnvFilter's span or field syntax, or a bare word
/// that is not a level (`Targets` would take those for target names, and log nothing else).
fn level_filter(value: Option<&str>) -> Option<Targets> {
    let readable = |directive: &str| match directive.split_once('=') {
        Some((target, level)) => {
            !target.is_empty()
                && target
                    .chars()
                    .all(|c| c.is_alphanumeric() || "_:-.".contains(c))
                && !level.is_empty() // `LevelFilter` reads "" as a level
                && level.parse::<LevelFilter>().is_ok()
        }
        None => directive.parse::<LevelFilter>().is_ok(),
    };
    let directives: Vec<&str> = value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty())
        .collect();
    if directives.is_empty() {
        return Some(info());
    }
    if !directives.iter().all(|directive| readable(directive)) {
        return None;
    }
    directives.join(",").parse().ok()
}

/// Installs the global subscriber for the binary.
pub fn init() {
    let setting = std::env::var("SSO_AGENT_LOG").ok();
    let level = level_filter(setting.as_deref()).unwrap_or_else(|| {
        eprintln!(
            "sso-agent: SSO_AGENT_LOG={} is not a level (off, error, warn, info, debug, trace) or a \
             list of target=level; logging at info",
            setting.unwrap_or_default()
        );
        info()
    });
    use std::io::IsTerminal;
    let layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(level)
        .with_filter(filter::filter_fn(may_log));
    tracing_subscriber::registry().with(layer).init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::callsite::Identifier;
    use tracing::field::FieldSet;
    use tracing::metadata::Kind;

    struct Site;
    impl tracing::Callsite for Site {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!()
        }
    }
    static SITE: Site = Site;

    fn metadata(target: &'static str, level: Level) -> Metadata<'static> {
        Metadata::new(
            "event",
            target,
            level,
            None,
            None,
            None,
            FieldSet::new(&[], Identifier(&SITE)),
            Kind::EVENT,
        )
    }

    #[test]
    fn the_log_setting_reads_levels_and_targets_and_falls_back_to_info() {
        let enabled = |value: Option<&str>, target: &str, level: Level| {
            level_filter(value)
                .unwrap_or_else(info)
                .would_enable(target, &level)
        };
        for unset in [None, Some(""), Some(" , ")] {
            assert!(level_filter(unset).is_some(), "{unset:?}");
        }
        for unreadable in ["x=bogus", "x=", "warning", "hyper", "[login]=debug"] {
            assert!(level_filter(Some(unreadable)).is_none(), "{unreadable}");
        }
        for unreadable in [
            None,
            Some(""),
            Some(" , "),
            Some("x=bogus"),
            Some("x="),
            Some("warning"),
            Some("hyper"),
        ] {
            assert!(
                enabled(unreadable, "sso_agent", Level::INFO),
                "{unreadable:?}"
            );
            assert!(
                !enabled(unreadable, "sso_agent", Level::DEBUG),
                "{unreadable:?}"
            );
        }
        // EnvFilter's span and field filters: not read, so not a filter that logs nothing.
        for spans in [
            "[login]=debug",
            "sso_agent[serve]=debug",
            "sso_agent{profile}=trace",
        ] {
            assert!(enabled(Some(spans), "hyper", Level::INFO), "{spans}");
            assert!(!enabled(Some(spans), "sso_agent", Level::DEBUG), "{spans}");
        }
        assert!(!enabled(Some("warn"), "sso_agent", Level::INFO));
        assert!(!enabled(Some("off"), "sso_agent", Level::ERROR));
        assert!(enabled(Some("warn"), "hyper", Level::WARN));
        // A trailing comma is no directive (Targets would read it as `error` for everything).
        assert!(enabled(Some("debug,"), "sso_agent", Level::DEBUG));
        let per_target = Some("sso_agent=debug,warn");
        assert!(enabled(per_target, "sso_agent::agent", Level::DEBUG));
        assert!(!enabled(per_target, "hyper", Level::INFO));
        assert!(enabled(per_target, "hyper", Level::WARN));
    }

    #[test]
    fn sdk_trace_events_are_dropped_and_everything_else_kept() {
        assert!(!may_log(&metadata(
            "aws_smithy_runtime::client::orchestrator",
            Level::TRACE
        )));
        assert!(!may_log(&metadata("hyper_util::client", Level::TRACE)));
        assert!(may_log(&metadata(
            "aws_smithy_runtime::client::orchestrator",
            Level::DEBUG
        )));
        assert!(may_log(&metadata("sso_agent::session", Level::TRACE)));
    }
}
