//! The progress panel that `midictl status --watch`, `midictl import --wait` and `midid run` draw.
//!
//! It lives in the library, not in the `midictl` binary, because `midid run` shows the same panel
//! for its in-process job; one implementation keeps the two views of a job identical.
//!
//! Two renderings, chosen once in [`Panel::new`]:
//! - stdout is a terminal and the caller does not print JSON: live bars (indicatif), one per stage;
//! - otherwise: plain lines on stderr, at most one batch per second, so that logs and CI output stay
//!   readable and stdout stays free for the result (`--json` promises exactly one document there).
//!
//! Every number shown comes from the daemon, so every helper here accepts zero, negative, NaN and
//! infinite values without panicking: a job that finishes in 0 s is normal, not an error.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::protocol::{Counts, DaemonInfo, JobInfo};

/// Plain progress lines are throttled to this interval; callers poll faster (200 ms) than a log
/// reader wants to read.
const LINE_INTERVAL: Duration = Duration::from_secs(1);

/// The stages with a bar, in pipeline order, as labelled on screen.
const STAGES: [&str; 5] = ["discovered", "read", "parsed", "analyzed", "cataloged"];
/// An export job's stages: files planned, converted to patterns, done (written, unchanged or
/// failed).
const EXPORT_STAGES: [&str; 3] = ["planned", "converted", "done"];

/// The stage names and values of a job, by its kind; the first is the total being walked.
fn stages(job: &JobInfo) -> Vec<(&'static str, u64)> {
    let c = &job.counts;
    if job.kind == "export" {
        EXPORT_STAGES.iter().copied().zip([c.discovered, c.analyzed, c.cataloged]).collect()
    } else {
        STAGES.iter().copied().zip(stage_values(c)).collect()
    }
}

/// A live view of one or more jobs. See the module documentation for the two renderings.
pub struct Panel {
    json: bool,
    mode: Mode,
}

enum Mode {
    Bars(Bars),
    Lines(Lines),
}

struct Bars {
    multi: MultiProgress,
    /// The io driver line; created on the first update that carries daemon information.
    daemon: Option<ProgressBar>,
    /// Bar groups in the order the jobs first appeared, which is the order they are drawn in.
    jobs: Vec<JobBars>,
}

struct JobBars {
    id: u64,
    header: ProgressBar,
    /// One bar per entry of [`STAGES`].
    stages: Vec<ProgressBar>,
    totals: ProgressBar,
    /// True while the discovered bar is a spinner, i.e. while discovery is still walking.
    walking: bool,
}

struct Lines {
    last: Option<Instant>,
    daemon_shown: bool,
}

impl Panel {
    /// `json`: the caller prints JSON on stdout, so the panel must not draw there and `finish`
    /// prints no summary.
    pub fn new(json: bool) -> Panel {
        let mode = if !json && std::io::stdout().is_terminal() {
            Mode::Bars(Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                daemon: None,
                jobs: Vec::new(),
            })
        } else {
            Mode::Lines(Lines { last: None, daemon_shown: false })
        };
        Panel { json, mode }
    }

    /// Redraws the panel for the jobs being watched. Cheap to call often: bars redraw at their own
    /// rate and plain lines are throttled to one batch per second.
    pub fn update(&mut self, daemon: Option<&DaemonInfo>, jobs: &[JobInfo]) {
        match &mut self.mode {
            Mode::Bars(bars) => bars.update(daemon, jobs),
            Mode::Lines(lines) => lines.update(daemon, jobs),
        }
    }

    /// Ends the view of one job: removes its bars and, unless the caller prints JSON, prints
    /// [`summary_text`] on stdout.
    pub fn finish(&mut self, job: &JobInfo) {
        let text = summary_text(job);
        match &mut self.mode {
            Mode::Bars(bars) => bars.finish(job.id, &text),
            Mode::Lines(_) => {
                if !self.json {
                    print_stdout(&text);
                }
            }
        }
    }
}

impl Drop for Panel {
    fn drop(&mut self) {
        // An error path (daemon gone mid-watch) drops the panel without `finish`; leave the last
        // state on screen so the error printed after it has context.
        if let Mode::Bars(bars) = &self.mode {
            for group in &bars.jobs {
                group.abandon();
            }
            if let Some(line) = &bars.daemon {
                line.abandon();
            }
        }
    }
}

fn print_stdout(text: &str) {
    // A closed stdout (`| head`) must not turn into a panic inside a progress display.
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

impl Bars {
    fn update(&mut self, daemon: Option<&DaemonInfo>, jobs: &[JobInfo]) {
        if let Some(info) = daemon {
            let line = self.daemon.get_or_insert_with(|| self.multi.insert(0, text_line()));
            line.set_message(daemon_line(info));
        }
        for job in jobs {
            match self.jobs.iter_mut().find(|g| g.id == job.id) {
                Some(group) => group.show(job),
                None => self.jobs.push(JobBars::new(&self.multi, job)),
            }
        }
        // indicatif rate-limits each bar's redraw, and a set_position that loses the race is only
        // shown at that bar's next change; one forced frame per poll keeps every line current.
        for bar in self.daemon.iter().chain(self.jobs.iter().flat_map(JobBars::bars)) {
            bar.force_draw();
        }
    }

    fn finish(&mut self, id: u64, summary: &str) {
        if let Some(i) = self.jobs.iter().position(|g| g.id == id) {
            let group = self.jobs.remove(i);
            group.clear(&self.multi);
        }
        // With no job left to watch, the io line would otherwise linger under the summary.
        if self.jobs.is_empty() {
            if let Some(line) = self.daemon.take() {
                line.finish_and_clear();
                self.multi.remove(&line);
            }
        }
        // Bars are only drawn without JSON, so the summary always belongs on stdout. Printing
        // straight there while bars are drawn would tear them; suspend clears them, prints, and
        // redraws whatever is still being watched below the summary.
        self.multi.suspend(|| print_stdout(summary));
    }
}

impl JobBars {
    /// Builds the group off screen and shows `job` in it before adding it to the panel, so the
    /// first frame already has the job's numbers instead of empty bars.
    fn new(multi: &MultiProgress, job: &JobInfo) -> JobBars {
        let stages = stages(job)
            .into_iter()
            .map(|(name, _)| {
                let bar = hidden_bar().with_style(stage_style());
                bar.set_prefix(name);
                bar
            })
            .collect();
        let mut group = JobBars { id: job.id, header: text_line(), stages, totals: text_line(), walking: false };
        group.show(job);
        for bar in group.bars() {
            multi.add(bar.clone());
        }
        group
    }

    fn show(&mut self, job: &JobInfo) {
        self.header.set_message(job_header(job));
        self.show_discovered(job);
        let c = &job.counts;
        // The first stage is `discovered`, drawn by `show_discovered`.
        for (bar, (_, value)) in self.stages.iter().zip(stages(job)).skip(1) {
            // Counters can race ahead of `discovered` (archive contents are found while reading);
            // a bar longer than full would draw garbage, so the length follows the largest value.
            bar.set_length(c.discovered.max(value));
            bar.set_position(value);
        }
        self.totals.set_message(totals_line(job));
    }

    fn show_discovered(&mut self, job: &JobInfo) {
        let Some(bar) = self.stages.first() else {
            return;
        };
        let walking = !job.discovery_done && !job.state.is_final();
        if walking && !self.walking {
            bar.set_style(walking_style());
            bar.enable_steady_tick(Duration::from_millis(120));
        } else if !walking && self.walking {
            bar.disable_steady_tick();
            bar.set_style(stage_style());
        }
        self.walking = walking;
        bar.set_length(job.counts.discovered);
        bar.set_position(job.counts.discovered);
    }

    fn bars(&self) -> impl Iterator<Item = &ProgressBar> {
        std::iter::once(&self.header).chain(self.stages.iter()).chain(std::iter::once(&self.totals))
    }

    fn clear(&self, multi: &MultiProgress) {
        for bar in self.bars() {
            bar.disable_steady_tick();
            bar.finish_and_clear();
            multi.remove(bar);
        }
    }

    fn abandon(&self) {
        for bar in self.bars() {
            bar.disable_steady_tick();
            bar.abandon();
        }
    }
}

/// Bars start hidden: one that is drawn before it joins the panel would draw on its own.
fn hidden_bar() -> ProgressBar {
    ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden())
}

fn text_line() -> ProgressBar {
    let style = ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
    hidden_bar().with_style(style)
}

fn stage_style() -> ProgressStyle {
    ProgressStyle::with_template("  {prefix:>10} [{bar:40.cyan/blue}] {pos:>9}/{len:<9} {percent:>3}%")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn walking_style() -> ProgressStyle {
    ProgressStyle::with_template("  {prefix:>10} {spinner} walking... {pos} found")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Lines {
    fn update(&mut self, daemon: Option<&DaemonInfo>, jobs: &[JobInfo]) {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < LINE_INTERVAL) {
            return;
        }
        self.last = Some(now);
        let mut err = std::io::stderr().lock();
        if let Some(info) = daemon.filter(|_| !self.daemon_shown) {
            // The io driver does not change while a daemon runs; once is enough in a log.
            self.daemon_shown = true;
            let _ = writeln!(err, "{}", daemon_line(info));
        }
        for job in jobs.iter().filter(|j| !j.state.is_final()) {
            let _ = writeln!(err, "{}", job_line(job));
        }
    }
}

fn stage_values(c: &Counts) -> [u64; 5] {
    [c.discovered, c.read, c.parsed, c.analyzed, c.cataloged]
}

/// One line of progress for logs and `midictl status JOB`:
/// `job 3 running: discovered 1200 read 1100 parsed 1000 analyzed 900 cataloged 800 imported 700
/// duplicates 90 rejected 10 skipped 4 elapsed 2s files/s 5000 eta 3s`.
pub fn job_line(job: &JobInfo) -> String {
    let c = &job.counts;
    let mut line = format!("job {} {}:", job.id, job.state.as_str());
    for (i, (name, value)) in stages(job).into_iter().enumerate() {
        let _ = write!(line, " {name} {value}");
        if i == 0 && !job.discovery_done && !job.state.is_final() {
            // The total is still growing; `+` keeps the line parseable as a number followed by a
            // marker instead of a number that looks final.
            line.push('+');
        }
    }
    if job.kind == "export" {
        let _ = write!(line, " {}", export_counts(job, " "));
        return line;
    }
    let _ = write!(
        line,
        " imported {} duplicates {} rejected {} skipped {} elapsed {} files/s {} eta {}",
        c.imported,
        c.duplicates,
        c.rejected,
        c.skipped,
        format_duration(job.elapsed_s),
        format_rate(job_rate(job)),
        format_eta(job.eta_s),
    );
    if let Some(a) = archive_text(c) {
        let _ = write!(line, " {a}");
    }
    line
}

/// `archives 5 depth 2 inflated 1.1 MiB known 1`, or None for a job that met no archive.
fn archive_text(c: &crate::protocol::Counts) -> Option<String> {
    if c.archives == 0 && c.archives_known == 0 {
        return None;
    }
    Some(format!(
        "archives {} depth {} inflated {} known {}",
        c.archives,
        c.archive_depth,
        format_bytes(c.inflated_bytes),
        c.archives_known
    ))
}

/// `written 10 unchanged 2 failed 0 elapsed 1.0s files/s 12 eta ?`, words joined by `sep`.
fn export_counts(job: &JobInfo, sep: &str) -> String {
    let c = &job.counts;
    let words = [
        format!("written {}", c.written),
        format!("unchanged {}", c.unchanged),
        format!("failed {}", c.rejected),
        format!("elapsed {}", format_duration(job.elapsed_s)),
        format!("files/s {}", format_rate(job_rate(job))),
        format!("eta {}", format_eta(job.eta_s)),
    ];
    words.join(sep)
}

fn job_header(job: &JobInfo) -> String {
    let mut header = format!("job {} {} {}", job.id, printable(&job.kind), job.state.as_str());
    if let Some(first) = job.paths.first() {
        let _ = write!(header, "  {}", printable(first));
        if job.paths.len() > 1 {
            let _ = write!(header, " (+{} more)", job.paths.len() - 1);
        }
    }
    header
}

fn totals_line(job: &JobInfo) -> String {
    let c = &job.counts;
    if job.kind == "export" {
        return format!("  {}", export_counts(job, "  "));
    }
    let mut line = format!(
        "  imported {}  duplicates {}  rejected {}  skipped {}  |  elapsed {}  {} files/s  eta {}",
        c.imported,
        c.duplicates,
        c.rejected,
        c.skipped,
        format_duration(job.elapsed_s),
        format_rate(job_rate(job)),
        format_eta(job.eta_s),
    );
    if let Some(a) = archive_text(c) {
        let _ = write!(line, "  |  {a}");
    }
    line
}

fn daemon_line(info: &DaemonInfo) -> String {
    let mut line = format!("midid {} (pid {}, {} shards), io {}", info.version, info.pid, info.shards, info.io_driver);
    if let Some(reason) = &info.io_fallback_reason {
        let _ = write!(line, " (fallback: {})", printable(reason));
    }
    line
}

/// The rate to show: the daemon's when it gave a usable one, else cataloged files over elapsed
/// time, else 0. An older or freshly started job may report 0 or NaN.
fn job_rate(job: &JobInfo) -> f64 {
    if job.files_per_s.is_finite() && job.files_per_s > 0.0 {
        return job.files_per_s;
    }
    if job.elapsed_s.is_finite() && job.elapsed_s > 0.0 {
        return job.counts.cataloged as f64 / job.elapsed_s;
    }
    0.0
}

/// A human summary of a finished (or any) job: state, files seen, how each ended, rejects by
/// reason, skips by extension, rate and elapsed time. Used by [`Panel::finish`] and `midid run`.
pub fn summary_text(job: &JobInfo) -> String {
    let c = &job.counts;
    let mut out = format!("job {} {} {}", job.id, printable(&job.kind), job.state.as_str());
    if let Some(note) = job.note.as_deref().filter(|n| !n.is_empty()) {
        let _ = write!(out, ": {}", printable(note));
    }
    out.push('\n');
    if job.kind == "export" {
        // An export's files are catalogued files; what it wrote are files on the drive.
        let _ = writeln!(out, "  files       {}", c.discovered);
        let _ = writeln!(out, "  written     {} (.mid, .mpcpattern, .progression)", c.written);
        let _ = writeln!(out, "  unchanged   {}", c.unchanged);
        let _ = writeln!(out, "  converted   {}", c.analyzed);
        let _ = writeln!(out, "  failed      {}", c.rejected);
        let _ =
            write!(out, "  elapsed     {}  ({} files/s)", format_duration(job.elapsed_s), format_rate(job_rate(job)));
        return out;
    }
    // Skipped files are not part of `discovered` (every discovered file ends imported, duplicate
    // or rejected), so the files the walk saw are both together.
    let seen = c.discovered.saturating_add(c.skipped);
    let _ = writeln!(out, "  files seen  {seen}");
    let _ = writeln!(out, "  imported    {}", c.imported);
    let _ = writeln!(out, "  duplicates  {}", c.duplicates);
    let _ = writeln!(out, "  rejected    {}{}", c.rejected, breakdown(&job.rejects_by_reason));
    let _ = writeln!(out, "  skipped     {}{}", c.skipped, breakdown(&job.skipped_by_ext));
    if c.parts > 0 {
        let _ = writeln!(out, "  parts       {}", c.parts);
    }
    if c.archives > 0 || c.archives_known > 0 {
        let _ = writeln!(
            out,
            "  archives    {} opened, nesting {} deep, {} inflated, {} already imported",
            c.archives,
            c.archive_depth,
            format_bytes(c.inflated_bytes),
            c.archives_known
        );
    }
    let _ = writeln!(out, "  bytes       {}", format_bytes(c.bytes));
    let _ = writeln!(out, "  files/s     {}", format_rate(job_rate(job)));
    let _ = write!(out, "  elapsed     {}", format_duration(job.elapsed_s));
    out
}

/// ` (not_midi 800, truncated 100)`, largest first, or nothing for an empty map.
fn breakdown(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return String::new();
    }
    let mut entries: Vec<(&String, &u64)> = map.iter().collect();
    // Largest first; the BTreeMap order breaks ties so the output is stable.
    entries.sort_by(|a, b| b.1.cmp(a.1));
    let parts: Vec<String> = entries.iter().map(|(k, v)| format!("{} {v}", printable(k))).collect();
    format!(" ({})", parts.join(", "))
}

/// Seconds as `0.4s`, `12s`, `2m05s`, `1h02m`; `-` for a value that is not a duration.
pub fn format_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".to_string();
    }
    if secs < 10.0 {
        return format!("{secs:.1}s");
    }
    // Saturating float-to-int cast: absurd values become a large number, not UB or a panic.
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// An ETA as [`format_duration`] does, or `?` while unknown.
pub fn format_eta(eta_s: Option<f64>) -> String {
    match eta_s {
        Some(secs) if secs.is_finite() && secs >= 0.0 => format_duration(secs),
        _ => "?".to_string(),
    }
}

/// Files per second: one decimal below 10 (a slow analysis stage), whole numbers above, `0` for
/// anything that is not a positive finite rate.
pub fn format_rate(rate: f64) -> String {
    if !rate.is_finite() || rate <= 0.0 {
        return "0".to_string();
    }
    if rate < 10.0 {
        format!("{rate:.1}")
    } else {
        format!("{:.0}", rate.round())
    }
}

/// Bytes in binary units, e.g. `1.5 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Text that came from outside (file and archive entry names, reasons) made safe for a terminal:
/// control characters, which could move the cursor or retitle the window, are shown escaped.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::JobState;

    fn job(state: JobState) -> JobInfo {
        JobInfo {
            id: 3,
            kind: "import".into(),
            state,
            paths: vec!["/data/packs".into()],
            counts: Counts {
                discovered: 1200,
                read: 1100,
                parsed: 1000,
                imported: 700,
                duplicates: 300,
                rejected: 200,
                parts: 0,
                analyzed: 900,
                cataloged: 1200,
                bytes: 3 * 1024 * 1024,
                skipped: 4,
                ..Counts::default()
            },
            discovery_done: true,
            elapsed_s: 2.0,
            files_per_s: 600.0,
            eta_s: None,
            rejects_by_reason: BTreeMap::from([("not_midi".into(), 150), ("truncated".into(), 50)]),
            skipped_by_ext: BTreeMap::from([("wav".into(), 3), ("pdf".into(), 1)]),
            started: None,
            finished: None,
            note: None,
        }
    }

    #[test]
    fn summary_has_every_count_and_breakdown() {
        let text = summary_text(&job(JobState::Done));
        assert!(text.starts_with("job 3 import done\n"), "{text}");
        assert!(text.contains("files seen  1204"), "{text}");
        assert!(text.contains("imported    700"), "{text}");
        assert!(text.contains("duplicates  300"), "{text}");
        assert!(text.contains("rejected    200 (not_midi 150, truncated 50)"), "{text}");
        assert!(text.contains("skipped     4 (wav 3, pdf 1)"), "{text}");
        assert!(text.contains("files/s     600"), "{text}");
        assert!(text.contains("elapsed     2.0s"), "{text}");
        assert!(text.contains("bytes       3.0 MiB"), "{text}");
        assert!(!text.contains("parts"), "{text}");
        assert!(!text.contains("archives"), "no archive line for a job without archives: {text}");
    }

    #[test]
    fn archive_progress_is_shown_when_archives_were_met() {
        let mut j = job(JobState::Running);
        j.counts.archives = 5;
        j.counts.archive_depth = 3;
        j.counts.inflated_bytes = 2 * 1024 * 1024;
        j.counts.archives_known = 1;
        let text = summary_text(&j);
        assert!(text.contains("archives    5 opened, nesting 3 deep, 2.0 MiB inflated, 1 already imported"), "{text}");
        let line = job_line(&j);
        assert!(line.ends_with("archives 5 depth 3 inflated 2.0 MiB known 1"), "{line}");
        assert!(totals_line(&j).contains("archives 5 depth 3"));
    }

    #[test]
    fn summary_shows_note_and_survives_zeros() {
        let mut j = job(JobState::Failed);
        j.note = Some("disk full".into());
        j.counts = Counts::default();
        j.elapsed_s = 0.0;
        j.files_per_s = f64::NAN;
        j.rejects_by_reason.clear();
        j.skipped_by_ext.clear();
        let text = summary_text(&j);
        assert!(text.starts_with("job 3 import failed: disk full\n"), "{text}");
        assert!(text.contains("rejected    0\n"), "{text}");
        assert!(text.contains("files/s     0\n"), "{text}");
        assert!(text.contains("elapsed     0.0s"), "{text}");
    }

    #[test]
    fn summary_escapes_hostile_names() {
        let mut j = job(JobState::Done);
        j.skipped_by_ext = BTreeMap::from([("w\u{1b}]0;pwned\u{7}".into(), 1)]);
        let text = summary_text(&j);
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("\\u{1b}"), "{text}");
    }

    #[test]
    fn job_line_marks_a_growing_total() {
        let mut j = job(JobState::Running);
        j.discovery_done = false;
        j.eta_s = Some(3.0);
        let line = job_line(&j);
        assert!(line.starts_with("job 3 running: discovered 1200+ read 1100 parsed 1000"), "{line}");
        assert!(line.ends_with("files/s 600 eta 3.0s"), "{line}");
    }

    #[test]
    fn an_export_job_shows_its_own_stages_and_counts() {
        let mut j = job(JobState::Done);
        j.kind = "export".into();
        j.counts.written = 2400;
        j.counts.unchanged = 30;
        let line = job_line(&j);
        assert!(
            line.starts_with("job 3 done: planned 1200 converted 900 done 1200 written 2400 unchanged 30"),
            "{line}"
        );
        let text = summary_text(&j);
        assert!(text.contains("written     2400") && !text.contains("duplicates"), "{text}");
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(0.0), "0.0s");
        assert_eq!(format_duration(0.44), "0.4s");
        assert_eq!(format_duration(12.4), "12s");
        assert_eq!(format_duration(125.0), "2m05s");
        assert_eq!(format_duration(3720.0), "1h02m");
        assert_eq!(format_duration(-1.0), "-");
        assert_eq!(format_duration(f64::NAN), "-");
        assert_eq!(format_duration(f64::INFINITY), "-");
        // Saturates instead of overflowing.
        assert!(format_duration(1e30).ends_with('m'));
    }

    #[test]
    fn etas() {
        assert_eq!(format_eta(None), "?");
        assert_eq!(format_eta(Some(f64::NAN)), "?");
        assert_eq!(format_eta(Some(-3.0)), "?");
        assert_eq!(format_eta(Some(90.0)), "1m30s");
    }

    #[test]
    fn rates() {
        assert_eq!(format_rate(0.0), "0");
        assert_eq!(format_rate(-5.0), "0");
        assert_eq!(format_rate(f64::NAN), "0");
        assert_eq!(format_rate(f64::INFINITY), "0");
        assert_eq!(format_rate(2.46), "2.5");
        assert_eq!(format_rate(4999.6), "5000");
    }

    #[test]
    fn rate_falls_back_to_cataloged_over_elapsed() {
        let mut j = job(JobState::Running);
        j.files_per_s = 0.0;
        assert_eq!(job_rate(&j), 600.0);
        j.elapsed_s = 0.0;
        assert_eq!(job_rate(&j), 0.0);
    }

    #[test]
    fn bytes() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn printable_borrows_clean_text() {
        assert!(matches!(printable("Kick 01.mid"), Cow::Borrowed(_)));
        assert_eq!(printable("a\nb"), "a\\nb");
    }

    #[test]
    fn panel_in_json_mode_never_panics() {
        let mut panel = Panel::new(true);
        let mut j = job(JobState::Running);
        j.counts = Counts::default();
        j.elapsed_s = 0.0;
        panel.update(None, std::slice::from_ref(&j));
        j.state = JobState::Done;
        panel.finish(&j);
    }
}
