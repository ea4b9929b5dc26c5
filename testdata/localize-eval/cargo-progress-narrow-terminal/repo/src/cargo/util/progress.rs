use std::cmp;

use crate::core::shell::Verbosity;
use crate::util::config::ProgressWhen;
use crate::util::Config;

pub struct Progress<'cfg> {
    state: Option<State<'cfg>>,
}

struct State<'cfg> {
    config: &'cfg Config,
    format: Format,
    name: String,
    done: bool,
}

struct Format {
    style: ProgressStyle,
    max_width: usize,
    max_print: usize,
}

#[derive(Clone, Copy)]
pub enum ProgressStyle {
    Percentage,
    Ratio,
}

impl<'cfg> Progress<'cfg> {
    pub fn tick(&mut self, cur: usize, max: usize, msg: &str) -> crate::CargoResult<()> {
        let s = match &mut self.state {
            Some(s) => s,
            None => return Ok(()),
        };
        s.tick(cur, max, msg)
    }
}

impl<'cfg> State<'cfg> {
    fn tick(&mut self, cur: usize, max: usize, msg: &str) -> crate::CargoResult<()> {
        if self.done {
            return Ok(());
        }
        if max > 0 && cur == max {
            self.done = true;
        }
        let mut line = String::new();
        if let Some(bar) = self.format.progress(cur, max) {
            line.push_str(&bar);
        }
        line.push_str(msg);
        self.config.shell().status_header(&self.name)?;
        self.config.shell().err().write_all(line.as_bytes())?;
        Ok(())
    }
}

impl Format {
    fn progress(&self, cur: usize, max: usize) -> Option<String> {
        assert!(cur <= max);
        let pct = (cur as f64) / (max as f64);
        let pct = if !pct.is_finite() { 0.0 } else { pct };
        let stats = match self.style {
            ProgressStyle::Percentage => format!(" {:6.02}%", pct * 100.0),
            ProgressStyle::Ratio => format!(" {}/{}", cur, max),
        };
        let extra_len = stats.len() + 2 /* [ and ] */ + 15 /* status header */;
        let display_width = self.width() - extra_len;
        let mut string = String::with_capacity(self.max_width);
        string.push('[');
        let hashes = display_width as f64 * pct;
        let hashes = hashes as usize;
        if hashes > 0 {
            for _ in 0..hashes - 1 {
                string.push('=');
            }
            if cur == max {
                string.push('=');
            } else {
                string.push('>');
            }
        }
        for _ in 0..(display_width - hashes) {
            string.push(' ');
        }
        string.push(']');
        string.push_str(&stats);
        Some(string)
    }

    fn width(&self) -> usize {
        cmp::min(self.max_width, self.max_print)
    }
}
