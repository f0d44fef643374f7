//! What an operation did, as a value: the actors answer with an [`Outcome`], the coordinator
//! counts the ones that changed something, and the progress line prints its text — written
//! here, once.

use std::fmt;

/// What a successful operation did. Its [`Display`](fmt::Display) is the outcome word of the
/// progress line (`created`, `up to date`, `copied from h1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A network, volume or container was created.
    Created,
    /// The network already existed (`exists`).
    Exists,
    /// A network, volume, container or the routes were removed.
    Removed,
    /// What was to be removed was not there (`already gone`).
    AlreadyGone,
    /// The image was on the host already (`present`).
    Present,
    /// The image was pulled.
    Pulled,
    /// The image was built.
    Built,
    /// The image was copied from this source (an inventory host or the local daemon).
    CopiedFrom(String),
    /// This many routes were installed (`3 routes`).
    Routes(usize),
    /// The container exited with status 0.
    Completed,
    /// The container's healthcheck passed.
    Healthy,
    /// A container was renamed.
    Renamed,
    /// A container was stopped.
    Stopped,
    /// A container kept running through its monitor period (`stable`).
    Stable,
    /// A replica's container was started.
    Started,
    /// A replica was replaced; `old_serves`: start-first, the old container serves until
    /// every peer has switched.
    Replaced {
        /// The old container is still running (start-first).
        old_serves: bool,
    },
    /// A replica's update failed and the rollout goes on (`failure_action: continue`).
    UpdateFailedContinuing,
    /// The hosts file already held the table (`up to date`).
    UpToDate,
    /// The host's hosts files were written over SSH.
    WrittenOverSsh,
    /// The host's hosts files were written through the Docker API (a helper container).
    WrittenByDocker,
}

impl Outcome {
    /// Whether the operation found everything as it should be and changed nothing (it does
    /// not count as a mutation).
    pub fn changed_nothing(&self) -> bool {
        matches!(
            self,
            Outcome::Exists | Outcome::Present | Outcome::AlreadyGone | Outcome::UpToDate
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Created => f.write_str("created"),
            Outcome::Exists => f.write_str("exists"),
            Outcome::Removed => f.write_str("removed"),
            Outcome::AlreadyGone => f.write_str("already gone"),
            Outcome::Present => f.write_str("present"),
            Outcome::Pulled => f.write_str("pulled"),
            Outcome::Built => f.write_str("built"),
            Outcome::CopiedFrom(source) => write!(f, "copied from {source}"),
            Outcome::Routes(count) => write!(f, "{count} routes"),
            Outcome::Completed => f.write_str("completed"),
            Outcome::Healthy => f.write_str("healthy"),
            Outcome::Renamed => f.write_str("renamed"),
            Outcome::Stopped => f.write_str("stopped"),
            Outcome::Stable => f.write_str("stable"),
            Outcome::Started => f.write_str("started"),
            Outcome::Replaced { old_serves: false } => f.write_str("replaced"),
            Outcome::Replaced { old_serves: true } => {
                f.write_str("replaced (the old one serves until every peer has switched)")
            }
            Outcome::UpdateFailedContinuing => f.write_str("update failed, continuing"),
            Outcome::UpToDate => f.write_str("up to date"),
            Outcome::WrittenOverSsh => f.write_str("written over ssh"),
            Outcome::WrittenByDocker => f.write_str("written through docker"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_of_the_progress_lines() {
        let cases = [
            (Outcome::Created, "created", false),
            (Outcome::Exists, "exists", true),
            (Outcome::Removed, "removed", false),
            (Outcome::AlreadyGone, "already gone", true),
            (Outcome::Present, "present", true),
            (Outcome::Pulled, "pulled", false),
            (Outcome::CopiedFrom("h1".into()), "copied from h1", false),
            (Outcome::Routes(3), "3 routes", false),
            (Outcome::Completed, "completed", false),
            (Outcome::Healthy, "healthy", false),
            (Outcome::Started, "started", false),
            (Outcome::Replaced { old_serves: false }, "replaced", false),
            (
                Outcome::Replaced { old_serves: true },
                "replaced (the old one serves until every peer has switched)",
                false,
            ),
            (
                Outcome::UpdateFailedContinuing,
                "update failed, continuing",
                false,
            ),
            (Outcome::UpToDate, "up to date", true),
            (Outcome::WrittenOverSsh, "written over ssh", false),
            (Outcome::WrittenByDocker, "written through docker", false),
        ];
        for (outcome, text, changed_nothing) in cases {
            assert_eq!(outcome.to_string(), text);
            assert_eq!(outcome.changed_nothing(), changed_nothing, "{text}");
        }
    }
}
