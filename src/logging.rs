//! Logging setup: `tracing` to stderr, level from `SSO_AGENT_LOG` (default `info`).
//!
//! The AWS SDK logs whole requests, headers included, at TRACE: the sso portal's bearer token
//! would be in them. Those events are dropped whatever `SSO_AGENT_LOG` asks for.

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

/// Installs the global subscriber for the binary.
pub fn init() {
    // `Targets` reads `level` and `target=level,...`: what the agent's own log needs, without
    // EnvFilter's span and field matching (and the regex engine it links).
    let level = std::env::var("SSO_AGENT_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO));
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
