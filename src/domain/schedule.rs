//! When something recurring is due (`backup.schedule`): plain time arithmetic in UTC.

use super::Millis;

const DAY_MS: Millis = 86_400_000;

/// `backup.schedule`, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    Off,
    /// Once a day at this minute of the day.
    DailyAt {
        minute: u32,
    },
    /// Every N minutes, counted from midnight UTC.
    Every {
        minutes: u32,
    },
}

impl Schedule {
    /// `off`, `daily at HH:MM`, `every N minutes`, `every N hours` (also `every hour`).
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let t = text.trim().to_ascii_lowercase();
        let words: Vec<&str> = t.split_whitespace().collect();
        let wrong =
            || format!("{text:?} is not a schedule: write \"off\", \"daily at 02:30\", \"every 6 hours\" or \"every 30 minutes\" (UTC)");
        match words.as_slice() {
            [] | ["off"] => Ok(Schedule::Off),
            ["daily", "at", hm] => {
                let (h, m) = hm.split_once(':').ok_or_else(wrong)?;
                let (h, m): (u32, u32) = (h.parse().map_err(|_| wrong())?, m.parse().map_err(|_| wrong())?);
                if h > 23 || m > 59 || hm.len() != 5 {
                    return Err(wrong());
                }
                Ok(Schedule::DailyAt { minute: h * 60 + m })
            }
            ["every", unit] => Schedule::every(1, unit).ok_or_else(wrong),
            ["every", n, unit] => {
                let n: u32 = n.parse().map_err(|_| wrong())?;
                if n == 0 {
                    return Err(wrong());
                }
                Schedule::every(n, unit).ok_or_else(wrong)
            }
            _ => Err(wrong()),
        }
    }

    fn every(n: u32, unit: &str) -> Option<Schedule> {
        let minutes = match unit {
            "minute" | "minutes" => n,
            "hour" | "hours" => n.checked_mul(60)?,
            _ => return None,
        };
        (minutes <= 24 * 60).then_some(Schedule::Every { minutes })
    }

    pub fn is_off(&self) -> bool {
        *self == Schedule::Off
    }

    pub fn interval_ms(&self) -> Option<Millis> {
        match self {
            Schedule::Off => None,
            Schedule::DailyAt { .. } => Some(DAY_MS),
            Schedule::Every { minutes } => Some(*minutes as Millis * 60_000),
        }
    }

    /// The latest scheduled time at or before `now` (ms since the epoch, UTC).
    pub fn latest_slot(&self, now: Millis) -> Option<Millis> {
        let day = now.div_euclid(DAY_MS) * DAY_MS;
        match self {
            Schedule::Off => None,
            Schedule::DailyAt { minute } => {
                let today = day + *minute as Millis * 60_000;
                Some(if today <= now { today } else { today - DAY_MS })
            }
            Schedule::Every { minutes } => {
                let every = *minutes as Millis * 60_000;
                Some(day + (now - day) / every * every)
            }
        }
    }

    /// How long a due backup may take before `docmerge check` calls it overdue: half the
    /// interval, at most six hours.
    pub fn grace_ms(&self) -> Millis {
        self.interval_ms().map(|i| (i / 2).min(6 * 3_600_000)).unwrap_or(0)
    }
}
