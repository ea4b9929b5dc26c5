use std::io::Write;

use console::AnsiCodeIterator;

use crate::config::Config;
use crate::decorations::{Decoration, GridBorderDecoration, LineNumberDecoration};
use crate::error::*;
use crate::input::OpenedInput;

pub(crate) struct InteractivePrinter<'a> {
    config: &'a Config<'a>,
    decorations: Vec<Box<dyn Decoration>>,
    panel_width: usize,
}

impl<'a> InteractivePrinter<'a> {
    pub(crate) fn new(config: &'a Config, input: &mut OpenedInput) -> Result<Self> {
        let mut decorations: Vec<Box<dyn Decoration>> = Vec::new();
        if config.style_components.numbers() {
            decorations.push(Box::new(LineNumberDecoration::new()));
        }
        let panel_width: usize =
            decorations.len() + decorations.iter().fold(0, |a, x| a + x.width());

        // The grid border decoration isn't added until after the panel_width calculation, since the
        // print_horizontal_line, print_header, and print_footer functions all assume the panel
        // width is without the grid border.
        if config.style_components.grid() && !decorations.is_empty() {
            decorations.push(Box::new(GridBorderDecoration::new()));
        }

        let _ = input;
        Ok(InteractivePrinter { config, decorations, panel_width })
    }

    fn print_horizontal_line_term(&mut self, handle: &mut dyn Write, style: ansi_term::Style) -> Result<()> {
        writeln!(handle, "{}", style.paint("─".repeat(self.config.term_width)))?;
        Ok(())
    }

    fn print_horizontal_line(&mut self, handle: &mut dyn Write, grid_char: char) -> Result<()> {
        if self.panel_width == 0 {
            self.print_horizontal_line_term(handle, self.colors.grid)?;
        } else {
            let hline = "─".repeat(self.config.term_width - (self.panel_width + 1));
            let hline = format!("{}{}{}", "─".repeat(self.panel_width), grid_char, hline);
            writeln!(handle, "{}", self.colors.grid.paint(hline))?;
        }
        Ok(())
    }

    pub(crate) fn print_header(&mut self, handle: &mut dyn Write, input: &OpenedInput, add_header_padding: bool) -> Result<()> {
        if !self.config.style_components.header() {
            return Ok(());
        }
        if self.config.style_components.grid() {
            self.print_horizontal_line(handle, '┬')?;
        }
        let _ = (input, add_header_padding);
        Ok(())
    }
}
