//! Progress of a deployment as events, printed for a person or a program.
//!
//! The actors report what they do as [`Event`]s to a [`Progress`] handle (cheap to clone,
//! shared by every actor). On a terminal the events become compose-like lines with colours
//! (`✔ Container demo-web-1 @h2  Started  0.4s`); when stderr is not a terminal the same lines
//! come without colours; with `--format json` every event is one JSON object per line on
//! stdout, for programs. This module only formats and writes; it decides nothing.

use std::io::{IsTerminal, Write};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nap_core::plan::PlacementRecord;
use serde::Serialize;

/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// Lines with colours and symbols, on stderr (a terminal).
    Terminal,
    /// The same lines without colours, on stderr.
    Plain,
    /// One JSON object per event, on stdout.
    Json,
    /// Nothing (library callers and tests that only want the report).
    Quiet,
}

impl ProgressStyle {
    /// [`ProgressStyle::Terminal`] when stderr is a terminal, else [`ProgressStyle::Plain`].
    pub fn for_stderr() -> ProgressStyle {
        if std::io::stderr().is_terminal() {
            ProgressStyle::Terminal
        } else {
            ProgressStyle::Plain
        }
    }
}

/// One thing that happened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The plan is known and execution begins.
    Plan {
        /// Project.
        project: String,
        /// Number of operations.
        operations: usize,
        /// Hosts involved.
        hosts: Vec<String>,
    },
    /// An operation began.
    Started {
        /// Plan operation id.
        id: usize,
        /// Host.
        host: String,
        /// What kind (`create_container`, …).
        op: String,
        /// What it works on (a container, network, image…).
        subject: String,
    },
    /// An operation ended.
    Finished {
        /// Plan operation id.
        id: usize,
        /// Host.
        host: String,
        /// What kind.
        op: String,
        /// What it worked on.
        subject: String,
        /// Whether it succeeded.
        ok: bool,
        /// What it did (`created`, `started`, `healthy`, `copied from h1`, `up to date`).
        outcome: String,
        /// The error, when it failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Seconds it took.
        seconds: f64,
    },
    /// An operation did not run because one it waits for failed.
    Skipped {
        /// Plan operation id.
        id: usize,
        /// Host.
        host: String,
        /// What kind.
        op: String,
        /// What it would have worked on.
        subject: String,
        /// The failed operation it waited for.
        because_of: usize,
    },
    /// A container started and has its address.
    ContainerStarted {
        /// Service.
        service: String,
        /// Replica number.
        replica: u32,
        /// Host.
        host: String,
        /// Container name.
        container: String,
        /// Container id.
        container_id: String,
        /// Its address on its first project network, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        ip: Option<Ipv4Addr>,
    },
    /// A line of a builder's output (`Step 2/4 : COPY . /app`).
    BuildOutput {
        /// Service.
        service: String,
        /// The builder host.
        host: String,
        /// The line.
        line: String,
    },
    /// `nap watch` waits for the next change of these files.
    Watching {
        /// The files.
        files: Vec<String>,
    },
    /// `nap watch` saw these files change and re-loads them.
    Changed {
        /// The files.
        files: Vec<String>,
    },
    /// The changed files are invalid: nothing was changed on any host.
    Rejected {
        /// The error, naming file and line.
        error: String,
    },
    /// A warning that does not stop the deployment.
    Warning {
        /// The message.
        message: String,
    },
    /// Execution ended.
    Done {
        /// Project.
        project: String,
        /// Operations that succeeded.
        succeeded: usize,
        /// Operations that failed.
        failed: usize,
        /// Operations skipped because of a failure.
        skipped: usize,
        /// The replicas that are not up as planned (one of their operations failed or did
        /// not run).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        not_deployed: Vec<PlacementRecord>,
        /// Hosts-file writes that changed a host's files (at most one per host).
        hosts_writes: usize,
        /// Seconds from the plan to the end.
        seconds: f64,
    },
}

struct ProgressInner {
    style: ProgressStyle,
    events: Vec<Event>,
    keep: bool,
    /// What the text output has shown as skipped: a container whose create, start and wait
    /// were all skipped is one line.
    shown_skipped: std::collections::HashSet<(String, String)>,
}

/// The text line for `event`, if one is shown: a thing skipped once already shows no second
/// line (JSON output keeps every event).
fn text_line(
    shown_skipped: &mut std::collections::HashSet<(String, String)>,
    event: &Event,
    colour: bool,
) -> Option<String> {
    if let Event::Skipped { host, subject, .. } = event
        && !shown_skipped.insert((host.clone(), subject.clone()))
    {
        return None;
    }
    render(event, colour)
}

/// Where actors send events. Clones share one output.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Mutex<ProgressInner>>,
    started: Instant,
}

impl Progress {
    /// A handle that prints in `style`.
    pub fn new(style: ProgressStyle) -> Progress {
        Progress {
            inner: Arc::new(Mutex::new(ProgressInner {
                style,
                events: Vec::new(),
                keep: false,
                shown_skipped: Default::default(),
            })),
            started: Instant::now(),
        }
    }

    /// A handle that prints nothing and keeps every event (for tests).
    pub fn recording() -> Progress {
        let progress = Progress::new(ProgressStyle::Quiet);
        progress.lock().keep = true;
        progress
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressInner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Seconds since the handle was made.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The events kept by a [`Progress::recording`] handle.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    /// Reports one event.
    pub fn emit(&self, event: Event) {
        let mut inner = self.lock();
        match inner.style {
            ProgressStyle::Quiet => {}
            ProgressStyle::Json => {
                let mut out = std::io::stdout().lock();
                if let Ok(line) = serde_json::to_string(&event) {
                    let _ = writeln!(out, "{line}");
                }
            }
            ProgressStyle::Terminal | ProgressStyle::Plain => {
                let colour = inner.style == ProgressStyle::Terminal;
                if let Some(line) = text_line(&mut inner.shown_skipped, &event, colour) {
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
            }
        }
        if inner.keep {
            inner.events.push(event);
        }
    }
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// `create_container` → `Container`, the noun compose prints.
fn noun(op: &str) -> &'static str {
    match op {
        "create_network" | "remove_network" => "Network",
        "create_volume" | "remove_volume" => "Volume",
        "ensure_image" | "pull_image" | "build_image" | "ship_image" => "Image",
        "ensure_routes" | "remove_routes" => "Routes",
        "patch_hosts" => "Hosts",
        _ => "Container",
    }
}

fn render(event: &Event, colour: bool) -> Option<String> {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    };
    match event {
        Event::Plan {
            project,
            operations,
            hosts,
        } => Some(if *operations == 0 {
            format!("[+] {project}: nothing to change, the hosts hold what the files say")
        } else {
            format!(
                "[+] {project}: {} on {} ({})",
                counted(*operations, "operation"),
                counted(hosts.len(), "host"),
                hosts.join(", ")
            )
        }),
        Event::Started {
            host, op, subject, ..
        } if op.starts_with("wait") => Some(format!(
            " {} {} {subject} @{host}  {}",
            paint(DIM, "…"),
            noun(op),
            paint(DIM, "Waiting")
        )),
        Event::Started { .. } | Event::ContainerStarted { .. } => None,
        Event::Finished {
            host,
            op,
            subject,
            ok,
            outcome,
            error,
            seconds,
            ..
        } => Some(if *ok {
            format!(
                " {} {} {subject} @{host}  {}  {}",
                paint(GREEN, "✔"),
                noun(op),
                capitalize(outcome),
                paint(DIM, &format!("{seconds:.1}s"))
            )
        } else {
            format!(
                " {} {} {subject} @{host}  {}",
                paint(RED, "✘"),
                noun(op),
                paint(
                    RED,
                    &format!("Error: {}", error.as_deref().unwrap_or("failed"))
                )
            )
        }),
        Event::Skipped {
            host,
            op,
            subject,
            because_of,
            ..
        } => Some(format!(
            " {} {} {subject} @{host}  {}",
            paint(YELLOW, "-"),
            noun(op),
            paint(YELLOW, &format!("Skipped (operation {because_of} failed)"))
        )),
        Event::BuildOutput {
            service,
            host,
            line,
        } => Some(format!(
            " {} Build {service} @{host}  {line}",
            paint(DIM, "…")
        )),
        Event::Warning { message } => Some(format!(" {} {message}", paint(YELLOW, "!"))),
        Event::Watching { files } => Some(format!(
            "[~] watching {} file{} for changes (Ctrl-C stops watching; the deployment keeps running)",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        )),
        Event::Changed { files } => Some(format!("[~] changed: {}", files.join(", "))),
        Event::Rejected { error } => Some(format!(
            " {} {}",
            paint(RED, "✘"),
            paint(
                RED,
                &format!("invalid change, the deployment is left as it was: {error}")
            )
        )),
        Event::Done {
            project,
            succeeded,
            failed,
            skipped,
            not_deployed,
            hosts_writes,
            seconds,
        } => Some(if *failed == 0 {
            format!(
                "[+] {project}: done, {} in {seconds:.1}s, {}",
                counted(*succeeded, "operation"),
                counted(*hosts_writes, "hosts-file write")
            )
        } else {
            let mut line = format!(
                "[!] {project}: {} failed, {skipped} skipped, {succeeded} succeeded in {seconds:.1}s",
                counted(*failed, "operation")
            );
            if !not_deployed.is_empty() {
                line.push_str("; not deployed: ");
                line.push_str(&describe_replicas(not_deployed));
            }
            line
        }),
    }
}

/// `1 operation`, `2 operations`, `0 hosts-file writes`: a count with its noun.
fn counted(count: usize, noun: &str) -> String {
    match (count, noun.ends_with("ch") || noun.ends_with('s')) {
        (1, _) => format!("1 {noun}"),
        (_, true) => format!("{count} {noun}es"),
        (_, false) => format!("{count} {noun}s"),
    }
}

/// `app (shop-app-3 on h3), top (shop-top-1 on h1, shop-top-2 on h2)`: replicas by service.
pub fn describe_replicas(replicas: &[PlacementRecord]) -> String {
    let mut by_service: Vec<(&str, Vec<String>)> = Vec::new();
    for replica in replicas {
        let entry = format!("{} on {}", replica.container, replica.host);
        match by_service.iter_mut().find(|(s, _)| *s == replica.service) {
            Some((_, list)) => list.push(entry),
            None => by_service.push((&replica.service, vec![entry])),
        }
    }
    by_service
        .into_iter()
        .map(|(service, list)| format!("{service} ({})", list.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_like_compose() {
        let finished = Event::Finished {
            id: 3,
            host: "h2".into(),
            op: "start_container".into(),
            subject: "demo-web-1".into(),
            ok: true,
            outcome: "started".into(),
            error: None,
            seconds: 0.42,
        };
        assert_eq!(
            render(&finished, false).unwrap(),
            " ✔ Container demo-web-1 @h2  Started  0.4s"
        );
        let json = serde_json::to_string(&finished).unwrap();
        assert!(
            json.starts_with(r#"{"event":"finished","id":3,"host":"h2""#),
            "{json}"
        );
        let failed = Event::Finished {
            id: 3,
            host: "h2".into(),
            op: "start_container".into(),
            subject: "demo-web-1".into(),
            ok: false,
            outcome: "failed".into(),
            error: Some("h2: no such image".into()),
            seconds: 0.42,
        };
        assert!(
            render(&failed, false)
                .unwrap()
                .ends_with("Error: h2: no such image")
        );
        assert!(render(&failed, true).unwrap().contains(RED));
    }

    #[test]
    fn build_output_is_one_line_per_builder_line() {
        let line = Event::BuildOutput {
            service: "web".into(),
            host: "h1".into(),
            line: "Step 2/3 : COPY . /app".into(),
        };
        assert_eq!(
            render(&line, false).unwrap(),
            " … Build web @h1  Step 2/3 : COPY . /app"
        );
        let json = serde_json::to_string(&line).unwrap();
        assert_eq!(
            json,
            r#"{"event":"build_output","service":"web","host":"h1","line":"Step 2/3 : COPY . /app"}"#
        );
    }

    #[test]
    fn counts_read_as_words() {
        let plan = |operations, hosts: &[&str]| Event::Plan {
            project: "demo".into(),
            operations,
            hosts: hosts.iter().map(|host| host.to_string()).collect(),
        };
        assert_eq!(
            render(&plan(1, &["h1"]), false).unwrap(),
            "[+] demo: 1 operation on 1 host (h1)"
        );
        assert_eq!(
            render(&plan(20, &["h1", "h2"]), false).unwrap(),
            "[+] demo: 20 operations on 2 hosts (h1, h2)"
        );
        assert_eq!(
            render(&plan(0, &[]), false).unwrap(),
            "[+] demo: nothing to change, the hosts hold what the files say"
        );
        let done = |succeeded, failed, hosts_writes| Event::Done {
            project: "demo".into(),
            succeeded,
            failed,
            skipped: 0,
            not_deployed: Vec::new(),
            hosts_writes,
            seconds: 1.0,
        };
        assert_eq!(
            render(&done(1, 0, 1), false).unwrap(),
            "[+] demo: done, 1 operation in 1.0s, 1 hosts-file write"
        );
        assert_eq!(
            render(&done(3, 0, 0), false).unwrap(),
            "[+] demo: done, 3 operations in 1.0s, 0 hosts-file writes"
        );
        assert!(
            render(&done(2, 1, 0), false)
                .unwrap()
                .starts_with("[!] demo: 1 operation failed, 0 skipped, 2 succeeded")
        );
    }

    #[test]
    fn a_container_skipped_for_several_operations_is_one_line() {
        let skipped = |id, op: &str| Event::Skipped {
            id,
            host: "h1".into(),
            op: op.into(),
            subject: "demo-api-1".into(),
            because_of: 2,
        };
        let mut shown = std::collections::HashSet::new();
        let lines: Vec<String> = [
            skipped(3, "create_container"),
            skipped(4, "start_container"),
            skipped(5, "wait_healthy"),
        ]
        .iter()
        .filter_map(|event| text_line(&mut shown, event, false))
        .collect();
        assert_eq!(
            lines,
            [" - Container demo-api-1 @h1  Skipped (operation 2 failed)"]
        );
    }

    #[test]
    fn recording_keeps_events() {
        let progress = Progress::recording();
        progress.emit(Event::Warning {
            message: "x".into(),
        });
        assert_eq!(progress.events().len(), 1);
    }
}
