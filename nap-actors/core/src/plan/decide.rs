//! The small decisions the actors make while carrying out one operation, as pure functions:
//! which steps a replica's replacement takes and what happens after it failed (from the
//! service's `update_config`), whether an image is pulled or copied and from which daemon,
//! and whether a hosts file is written over SSH or by exec. The actors gather the facts
//! (a healthcheck, what the daemons hold, whether SSH answers), call these and do what they
//! say; nothing here does I/O.

use super::rollout::{FailureAction, RolloutPolicy};

/// The steps of replacing one replica, in this order: rename the old container aside, stop it
/// (`stop_old_first`), create and start the new one, wait until it is healthy
/// (`wait_healthy`), watch it through the monitor period, remove the old one
/// (`remove_old_after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplaceSteps {
    /// Stop the old container before the new one starts (stop-first).
    pub stop_old_first: bool,
    /// Wait for the new container's healthcheck to pass (it has one).
    pub wait_healthy: bool,
    /// Remove the old container once the new one is stable (stop-first; with start-first it
    /// serves until every peer has switched, and a later `RetireContainer` removes it).
    pub remove_old_after: bool,
}

/// The steps of replacing a replica under `policy`; `has_healthcheck`: the new container
/// has a healthcheck (not `NONE`).
pub fn replace_steps(policy: &RolloutPolicy, has_healthcheck: bool) -> ReplaceSteps {
    ReplaceSteps {
        stop_old_first: !policy.start_first,
        wait_healthy: has_healthcheck,
        remove_old_after: !policy.start_first,
    }
}

/// What follows a replica whose new container failed (did not start, become healthy or stay
/// up through the monitor period), as `update_config.failure_action` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailedReplica {
    /// Remove the new container and put the old one back under its name, starting it again
    /// when it had been stopped (`restart_old`); the operation fails, saying it was rolled
    /// back.
    RollBack {
        /// The old container was stopped (stop-first) and is started again.
        restart_old: bool,
    },
    /// Keep the old container aside, as it is; the operation fails and what waits on it (the
    /// rest of the rollout) does not run.
    Pause,
    /// Warn and go on with the next replicas; the operation succeeds.
    Continue,
}

/// What follows a failed replica under `policy`.
pub fn after_failed_replica(policy: &RolloutPolicy) -> AfterFailedReplica {
    match policy.failure_action {
        FailureAction::Rollback => AfterFailedReplica::RollBack {
            restart_old: !policy.start_first,
        },
        FailureAction::Pause => AfterFailedReplica::Pause,
        FailureAction::Continue => AfterFailedReplica::Continue,
    }
}

/// How an image a host lacks is fetched first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFetch {
    /// The host has it: nothing to do.
    Present,
    /// Pull it from its registry; copy it from another daemon if that fails.
    PullThenCopy,
    /// Copy it from another daemon straight away (`--ship-images`).
    Copy,
}

/// How an image is fetched: `present` on the host already, `ship`: `--ship-images`.
pub fn image_fetch(present: bool, ship: bool) -> ImageFetch {
    match (present, ship) {
        (true, _) => ImageFetch::Present,
        (false, false) => ImageFetch::PullThenCopy,
        (false, true) => ImageFetch::Copy,
    }
}

/// A daemon that holds the image under the wanted reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageHolder {
    /// The deploying machine's own daemon (its image ID is the one a copy must arrive with).
    pub trusted: bool,
    /// The image ID it holds under that reference.
    pub id: String,
}

/// Where an image is copied from, and the image ID the copy must arrive with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCopy {
    /// The holder to copy from (an index into the holders, which are best first).
    pub from: usize,
    /// The image ID the copy must have when it arrives (else it is removed again).
    pub expected: String,
}

/// Which holder to copy an image from (`holders` best first), so that one compromised host
/// cannot seed the others with another image of the same name: the image ID must be the
/// trusted holder's, else the first holder's, and the copy comes from the first holder with
/// that ID. `None`: no daemon holds it.
pub fn image_copy(holders: &[ImageHolder]) -> Option<ImageCopy> {
    let expected = holders
        .iter()
        .find(|holder| holder.trusted)
        .or(holders.first())?
        .id
        .clone();
    let from = holders.iter().position(|holder| holder.id == expected)?;
    Some(ImageCopy { from, expected })
}

/// How a running container's hosts file is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostsFileWriter {
    /// Over SSH, in place at the container's `HostsPath` on the host.
    Ssh,
    /// By exec into the container (needs `sh` in the image).
    Exec,
}

/// How a hosts file is rewritten: over SSH when the host has `ssh:` and its session answers
/// (`ssh_answers`), else by exec (no `ssh:`, or the preflight found sshd not answering).
pub fn hosts_file_writer(has_ssh: bool, ssh_answers: bool) -> HostsFileWriter {
    if has_ssh && ssh_answers {
        HostsFileWriter::Ssh
    } else {
        HostsFileWriter::Exec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(start_first: bool, failure_action: FailureAction) -> RolloutPolicy {
        RolloutPolicy {
            parallelism: 1,
            delay_ms: 0,
            start_first,
            monitor_ms: 5_000,
            failure_action,
        }
    }

    #[test]
    fn replace_steps_follow_the_order() {
        // (start_first, has_healthcheck) → (stop_old_first, wait_healthy, remove_old_after)
        let cases = [
            ((false, false), (true, false, true)),
            ((false, true), (true, true, true)),
            ((true, false), (false, false, false)),
            ((true, true), (false, true, false)),
        ];
        for ((start_first, healthcheck), (stop, wait, remove)) in cases {
            let steps = replace_steps(&policy(start_first, FailureAction::Pause), healthcheck);
            assert_eq!(
                steps,
                ReplaceSteps {
                    stop_old_first: stop,
                    wait_healthy: wait,
                    remove_old_after: remove
                },
                "start_first {start_first}, healthcheck {healthcheck}"
            );
        }
    }

    #[test]
    fn a_failed_replica_is_rolled_back_paused_or_passed_over() {
        let cases = [
            (
                (FailureAction::Rollback, false),
                AfterFailedReplica::RollBack { restart_old: true },
            ),
            (
                (FailureAction::Rollback, true),
                AfterFailedReplica::RollBack { restart_old: false },
            ),
            ((FailureAction::Pause, false), AfterFailedReplica::Pause),
            ((FailureAction::Pause, true), AfterFailedReplica::Pause),
            (
                (FailureAction::Continue, false),
                AfterFailedReplica::Continue,
            ),
            (
                (FailureAction::Continue, true),
                AfterFailedReplica::Continue,
            ),
        ];
        for ((action, start_first), expected) in cases {
            assert_eq!(
                after_failed_replica(&policy(start_first, action)),
                expected,
                "{action:?}, start_first {start_first}"
            );
        }
    }

    #[test]
    fn an_image_is_pulled_unless_present_or_shipped() {
        let cases = [
            ((true, false), ImageFetch::Present),
            ((true, true), ImageFetch::Present),
            ((false, false), ImageFetch::PullThenCopy),
            ((false, true), ImageFetch::Copy),
        ];
        for ((present, ship), expected) in cases {
            assert_eq!(
                image_fetch(present, ship),
                expected,
                "present {present}, ship {ship}"
            );
        }
    }

    #[test]
    fn an_image_is_copied_from_a_holder_of_the_trusted_id() {
        let holder = |trusted, id: &str| ImageHolder {
            trusted,
            id: id.to_string(),
        };
        let copy = |from, expected: &str| {
            Some(ImageCopy {
                from,
                expected: expected.to_string(),
            })
        };
        let cases = [
            // Nobody has it.
            (vec![], None),
            // No trusted daemon: the first holder sets the ID.
            (vec![holder(false, "a"), holder(false, "b")], copy(0, "a")),
            // The trusted daemon's ID wins over the first holder's…
            (
                vec![holder(false, "evil"), holder(true, "good")],
                copy(1, "good"),
            ),
            // …and an earlier holder of that same ID is copied from.
            (
                vec![
                    holder(false, "evil"),
                    holder(false, "good"),
                    holder(true, "good"),
                ],
                copy(1, "good"),
            ),
        ];
        for (holders, expected) in cases {
            assert_eq!(image_copy(&holders), expected, "{holders:?}");
        }
    }

    #[test]
    fn hosts_files_are_written_over_ssh_when_it_answers() {
        let cases = [
            ((true, true), HostsFileWriter::Ssh),
            ((true, false), HostsFileWriter::Exec),
            ((false, false), HostsFileWriter::Exec),
            ((false, true), HostsFileWriter::Exec),
        ];
        for ((has_ssh, answers), expected) in cases {
            assert_eq!(
                hosts_file_writer(has_ssh, answers),
                expected,
                "ssh {has_ssh}, answers {answers}"
            );
        }
    }
}
