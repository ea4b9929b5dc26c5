use nu_protocol::{Config, TrimStrategy};
use tabled::papergrid::records::{Records, Resizable};

use crate::table_theme::TableTheme;

pub struct NuTable {
    data: Vec<Vec<String>>,
    widths: Vec<usize>,
    with_header: bool,
    with_index: bool,
}

impl NuTable {
    pub fn new(data: Vec<Vec<String>>, widths: Vec<usize>, with_header: bool, with_index: bool) -> Self {
        NuTable { data, widths, with_header, with_index }
    }

    pub fn draw(mut self, config: &Config, theme: &TableTheme, termwidth: usize) -> Option<String> {
        if self.data.is_empty() {
            return Some(String::new());
        }
        let pad = theme.padding();
        let widths = truncate_widths(&self.widths, termwidth, pad);
        if widths.is_empty() {
            return None;
        }
        self.widths = widths;
        Some(self.render(config, theme))
    }

    fn render(&self, _config: &Config, _theme: &TableTheme) -> String {
        let mut out = String::new();
        for row in &self.data {
            for (cell, w) in row.iter().zip(&self.widths) {
                out.push_str(&format!("{:w$} ", cell, w = *w));
            }
            out.push('\n');
        }
        out
    }
}

fn truncate_widths(widths: &[usize], termwidth: usize, pad: usize) -> Vec<usize> {
    let mut used = 0;
    let mut out = Vec::with_capacity(widths.len());
    for &w in widths {
        let available = termwidth - used - pad;
        if available == 0 {
            break;
        }
        let w = w.min(available);
        out.push(w);
        used += w + pad;
    }
    out
}
