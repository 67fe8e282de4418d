//! Meter, length in bars, loops and the quantized-or-played flag.
//!
//! The time signature comes from the file when it has one. Without one, the accent pattern
//! decides between three and four beats a bar: onsets weighted by velocity and length are folded
//! onto a bar of each length, and the meter whose downbeats stand out more wins (4/4 on a tie,
//! as the SMF default says). A loop is a file of whole bars, 1 to 32 of them; its repeat is the
//! shortest number of bars whose notes repeat to the end.

use super::score::Score;

#[derive(Debug, Clone, PartialEq)]
pub struct Rhythm {
    pub time_signature: (u8, u16),
    /// `meta` or `analysis`.
    pub meter_source: &'static str,
    pub bars: f64,
    /// Whole bars (1-32) when the file is a loop.
    pub loop_bars: Option<u32>,
    /// The shortest period in bars that repeats through the loop.
    pub repeat_bars: Option<u32>,
    pub quantized: bool,
}

pub fn analyze(score: &Score, end_tick: u64) -> Rhythm {
    let ppq = u64::from(score.ppq.max(1));
    let (time_signature, meter_source) = match score.time_sigs.first() {
        Some(&(_, n, d)) => ((n, d), "meta"),
        None => (estimate_meter(score), "analysis"),
    };
    let (n, d) = time_signature;
    let bar = (ppq * 4 * u64::from(n) / u64::from(d.max(1))).max(1);
    let music_end = score.music_end();
    // A loop's length is its end-of-track when that is past the last note (trailing rests are
    // part of the loop), else the last note's end.
    let end = end_tick.max(music_end);
    let bars = end as f64 / bar as f64;
    let whole = (bars.round() as u64).max(1);
    let snapped = ((end as i64 - (whole * bar) as i64).unsigned_abs()) * 16 <= bar;
    let loop_bars =
        (score.ppq > 0 && snapped && (1..=32).contains(&whole) && !score.notes.is_empty()).then_some(whole as u32);
    let repeat_bars = loop_bars.and_then(|b| repeat_period(score, bar, b));
    Rhythm {
        time_signature,
        meter_source,
        bars: (bars * 100.0).round() / 100.0,
        loop_bars,
        repeat_bars,
        quantized: quantized(score),
    }
}

fn estimate_meter(score: &Score) -> (u8, u16) {
    if score.ppq == 0 || score.notes.len() < 16 {
        return (4, 4);
    }
    let ppq = u64::from(score.ppq);
    // Weight per beat position within a bar of 3 and of 4 beats.
    let fold = |beats: u64| -> f64 {
        let mut w = vec![0.0f64; beats as usize];
        for n in score.notes.iter() {
            let pos = n.on % (ppq * beats);
            if pos % ppq <= ppq / 16 {
                w[(pos / ppq) as usize] += f64::from(n.vel) * (1.0 + (n.ticks() as f64 / ppq as f64).min(4.0));
            }
        }
        let total: f64 = w.iter().sum();
        if total <= 0.0 {
            return 0.0;
        }
        // How much the downbeat stands out over the bar's average beat.
        w[0] / (total / beats as f64)
    };
    if fold(3) > fold(4) * 1.08 {
        (3, 4)
    } else {
        (4, 4)
    }
}

fn repeat_period(score: &Score, bar: u64, bars: u32) -> Option<u32> {
    let sig = |b: u64| -> Vec<(u64, u8, u64)> {
        let (from, to) = (b * bar, (b + 1) * bar);
        score.notes.iter().filter(|n| n.on >= from && n.on < to).map(|n| (n.on - from, n.pitch, n.ticks())).collect()
    };
    let sigs: Vec<_> = (0..u64::from(bars)).map(sig).collect();
    (1..bars).find(|&p| bars % p == 0 && (0..bars).all(|i| sigs[i as usize] == sigs[(i % p) as usize])).or(Some(bars))
}

/// Quantized: nine in ten onsets within a 64th of the 16th or the 8th-triplet grid.
fn quantized(score: &Score) -> bool {
    if score.ppq == 0 || score.notes.is_empty() {
        return false;
    }
    let ppq = u64::from(score.ppq);
    let tol = (ppq / 48).max(1);
    let near = |t: u64, step: u64| -> bool {
        if step == 0 {
            return false;
        }
        let r = t % step;
        r <= tol || step - r <= tol
    };
    let on_grid = score.notes.iter().filter(|n| near(n.on, ppq / 4) || near(n.on, ppq / 3)).count();
    on_grid * 10 >= score.notes.len() * 9
}
