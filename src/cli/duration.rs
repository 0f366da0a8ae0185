//! Durations as people write them on the command line: a whole number and its unit, `90s`,
//! `30m`, `8h`, `2d`, for `ecs-env --ttl` and `console --duration`.

use std::time::Duration;

/// `text` as a whole number and a unit `s`, `m`, `h` or `d`.
pub fn with_unit(text: &str) -> Result<Duration, String> {
    let refused = || format!("{text:?}: write a whole number and a unit: 90s, 30m, 8h or 2d");
    let at = text
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map(|(at, _)| at)
        .ok_or_else(refused)?;
    let (number, unit) = text.split_at(at);
    let scale: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(refused()),
    };
    if number.is_empty() {
        return Err(refused());
    }
    // More digits than u64 holds is simply very long: the caller's upper bound refuses it.
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .unwrap_or(u64::MAX);
    Ok(Duration::from_secs(seconds))
}

/// `with_unit`, or a bare number of seconds (`--duration 3600`, as the flag always took).
pub fn seconds_or_with_unit(text: &str) -> Result<Duration, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    with_unit(text).map_err(|_| {
        format!("{text:?}: write seconds (3600) or a whole number and a unit: 90s, 30m, 8h")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(with_unit("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(with_unit("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(with_unit("8h"), Ok(Duration::from_secs(28800)));
        assert_eq!(with_unit("2d"), Ok(Duration::from_secs(172800)));
        assert_eq!(with_unit("0s"), Ok(Duration::ZERO));
        assert_eq!(
            with_unit("99999999999999999999d").unwrap().as_secs(),
            u64::MAX
        );
        for bad in ["", "8", "h", "5w", "-1", "1.5h", "1h30m"] {
            assert!(with_unit(bad).is_err(), "{bad}");
        }
        assert_eq!(seconds_or_with_unit("3600"), Ok(Duration::from_secs(3600)));
        assert_eq!(seconds_or_with_unit("1h"), Ok(Duration::from_secs(3600)));
        assert!(seconds_or_with_unit("1.5h").is_err());
    }
}
