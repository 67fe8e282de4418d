//! Tempo: the map's initial and duration-weighted BPM, and an estimate where the map is silent.
//!
//! A file's tempo events are the best evidence, except a lone 120 BPM event (or none), which is
//! what most sequencers write when nobody set a tempo. Then the file name's BPM wins, and
//! failing that an estimate from the onsets: where a performance was recorded without a click,
//! the beat's length in ticks is not the file's PPQ, and its period shows in the onsets'
//! autocorrelation (computed with an FFT, `rustfft`). Half and double time are resolved into the
//! octave a genre named in the path implies (drum and bass near 170, hip-hop near 90: see
//! `tags::tempo_floor`) or, without one, into the 70-180 BPM range producers use.

use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

use super::score::Score;

#[derive(Debug, Clone, PartialEq)]
pub struct Tempo {
    /// The BPM a producer would set: the duration-weighted median of the map, or the name's or
    /// the estimate's.
    pub bpm: f64,
    pub initial_bpm: f64,
    pub weighted_bpm: f64,
    pub changes: bool,
    /// `meta`, `filename`, `analysis` or `default`.
    pub source: &'static str,
    pub confidence: f64,
}

/// Duration-weighted median BPM of the map over `[0, end)` (120 before the first event).
fn weighted_median(score: &Score, end: u64) -> Option<f64> {
    if score.tempo.is_empty() {
        return None;
    }
    let mut spans: Vec<(f64, u64)> = Vec::with_capacity(score.tempo.len() + 1);
    let (mut from, mut bpm) = (0u64, 120.0);
    for &(t, u) in score.tempo.iter() {
        if t >= end {
            break;
        }
        if t > from {
            spans.push((bpm, t - from));
        }
        from = t;
        bpm = 60e6 / f64::from(u);
    }
    spans.push((bpm, end.saturating_sub(from).max(1)));
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = spans.iter().map(|s| s.1).sum();
    let mut acc = 0u64;
    for (bpm, w) in &spans {
        acc += w;
        if acc * 2 >= total {
            return Some(*bpm);
        }
    }
    None
}

/// Folds an estimated BPM by octaves into `[floor, 2 floor)` when a genre gives a floor, else
/// into 70-180.
pub fn fold(mut bpm: f64, floor: Option<f64>) -> f64 {
    if !(bpm.is_finite() && bpm > 0.0) {
        return bpm;
    }
    let (lo, hi) = match floor {
        Some(f) => (f, 2.0 * f),
        None => (70.0, 180.0),
    };
    while bpm < lo {
        bpm *= 2.0;
    }
    while bpm >= hi {
        bpm /= 2.0;
    }
    bpm
}

/// `name_bpm`: a BPM in the file name; `genre_floor`: the octave floor a genre word implies.
pub fn analyze(score: &Score, name_bpm: Option<f64>, genre_floor: Option<f64>) -> Tempo {
    let end = score.music_end().max(1);
    let initial =
        score.tempo.iter().take_while(|t| t.0 == 0).last().or(score.tempo.first()).map(|t| 60e6 / f64::from(t.1));
    let weighted = weighted_median(score, end);
    let first = score.tempo.first().map(|t| t.1);
    let changes = score.tempo.iter().any(|t| Some(t.1) != first);
    let lone_default = !changes && initial.is_some_and(|b| (b - 120.0).abs() < 0.01) || initial.is_none();
    let mut t = Tempo {
        bpm: weighted.or(initial).unwrap_or(120.0),
        initial_bpm: initial.unwrap_or(120.0),
        weighted_bpm: weighted.or(initial).unwrap_or(120.0),
        changes,
        source: if initial.is_some() { "meta" } else { "default" },
        confidence: if initial.is_some() { 0.95 } else { 0.2 },
    };
    if !lone_default {
        return t;
    }
    // Weak meta: a lone 120 (or nothing).
    if initial.is_some() {
        t.confidence = 0.5;
    }
    if let Some(b) = name_bpm {
        t.bpm = b;
        t.source = "filename";
        t.confidence = 0.8;
        return t;
    }
    // Notes on the file's own sixteenth-note grid were placed against its beat: that grid's
    // tempo is the one the file has, and an autocorrelation peak elsewhere is the melody's
    // rhythm, not another beat (a quantized 120 BPM melody read as 96 before this check).
    if on_own_grid(score) {
        return t;
    }
    if let Some((beat_ticks, strength)) = beat_period(score) {
        let at_default = f64::from(score.ppq) / beat_ticks * t.initial_bpm;
        // A period that is a simple ratio of the PPQ means the notes sit on the file's own grid,
        // whose tempo is the one already known: nothing to add.
        let ratio = beat_ticks / f64::from(score.ppq);
        let on_grid = [0.5, 2.0 / 3.0, 0.75, 1.0, 1.5, 2.0, 3.0].iter().any(|r| (ratio / r - 1.0).abs() < 0.01);
        if !on_grid && strength > 0.3 && at_default.is_finite() && at_default > 0.0 {
            let bpm = fold(at_default, genre_floor);
            t.bpm = (bpm * 10.0).round() / 10.0;
            t.source = "analysis";
            t.confidence = (strength * 0.7).min(0.7);
        }
    }
    t
}

/// Whether nine in ten onsets sit on the sixteenth-note grid of the file's PPQ.
fn on_own_grid(score: &Score) -> bool {
    let step = u64::from(score.ppq / 4);
    // Below PPQ 16 a sixteenth is under 4 ticks and every onset would look on the grid.
    if step < 4 {
        return false;
    }
    let tolerance = (step / 12).max(1);
    let on = score
        .notes
        .iter()
        .filter(|n| {
            let r = n.on % step;
            r <= tolerance || step - r <= tolerance
        })
        .count();
    !score.notes.is_empty() && on * 10 >= score.notes.len() * 9
}

thread_local! {
    static PLANNER: std::cell::RefCell<FftPlanner<f32>> = std::cell::RefCell::new(FftPlanner::new());
}

/// The beat period in ticks from the onsets' autocorrelation, with its normalised strength:
/// the strongest lag between 0.25 and 2 quarter notes' worth of ticks at the file's PPQ... or
/// wherever the notes actually repeat, since an unclicked performance ignores the PPQ.
pub fn beat_period(score: &Score) -> Option<(f64, f64)> {
    if score.ppq == 0 || score.notes.len() < 8 {
        return None;
    }
    // Onset train at 1/24 of a quarter note, at most 2^15 bins (long files are cut).
    let bin = (f64::from(score.ppq) / 24.0).max(1.0);
    let end = score.notes.last()?.on;
    let n_bins = ((end as f64 / bin) as usize + 1).min(1 << 15);
    let size = (2 * n_bins).next_power_of_two();
    let mut buf = vec![Complex::new(0.0f32, 0.0); size];
    for n in score.notes.iter() {
        let i = (n.on as f64 / bin) as usize;
        if i < n_bins {
            buf[i].re += f32::from(n.vel.max(1)) / 127.0;
        }
    }
    // Plans are cached per thread: planning is most of an FFT's cost at these sizes.
    PLANNER.with(|p| {
        let mut planner = p.borrow_mut();
        planner.plan_fft_forward(size).process(&mut buf);
        for c in buf.iter_mut() {
            *c = Complex::new(c.norm_sqr(), 0.0);
        }
        planner.plan_fft_inverse(size).process(&mut buf);
    });
    let zero = buf[0].re.max(f32::MIN_POSITIVE);
    // Lags for 40-300 BPM at the default tempo's tick rate: 0.4 to 3 quarter notes.
    let lo = (0.4 * 24.0) as usize;
    let hi = ((3.0 * 24.0) as usize).min(n_bins.saturating_sub(1));
    let (lag, val) = (lo..=hi).map(|l| (l, buf[l].re)).max_by(|a, b| a.1.total_cmp(&b.1))?;
    Some((lag as f64 * bin, f64::from(val / zero)))
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn estimates_fold_into_the_genres_octave() {
        // Half-time drum and bass reads as 87: the genre puts it at 174.
        assert_eq!(fold(87.0, Some(150.0)), 174.0);
        // Hip-hop at double time comes back down.
        assert_eq!(fold(184.0, Some(65.0)), 92.0);
        // No genre: only the extremes move.
        assert_eq!(fold(87.0, None), 87.0);
        assert_eq!(fold(50.0, None), 100.0);
        assert_eq!(fold(200.0, None), 100.0);
        assert!(fold(f64::NAN, Some(100.0)).is_nan());
    }
}
