use std::io::{self, Write};

use crate::config::Config;
use crate::error::*;
use crate::input::{Input, OpenedInput};
use crate::printer::InteractivePrinter;

pub struct Controller<'a> {
    config: &'a Config<'a>,
}

impl<'b> Controller<'b> {
    pub fn new<'a>(config: &'a Config) -> Controller<'a> {
        Controller { config }
    }

    pub fn run(&self, inputs: Vec<Input>) -> Result<bool> {
        let stdout = io::stdout();
        let mut writer = stdout.lock();
        let mut no_errors = true;
        for input in inputs {
            let mut opened_input = input.open(io::stdin().lock())?;
            let mut printer = InteractivePrinter::new(self.config, &mut opened_input)?;
            if let Err(error) = self.print_file(&mut printer, &mut writer, &mut opened_input) {
                no_errors = false;
                handle_error(&error, &mut writer);
            }
        }
        Ok(no_errors)
    }

    fn print_file(&self, printer: &mut InteractivePrinter, writer: &mut dyn Write, input: &mut OpenedInput) -> Result<()> {
        printer.print_header(writer, input, false)?;
        Ok(())
    }
}

fn handle_error(error: &Error, writer: &mut dyn Write) {
    let _ = writeln!(writer, "[bat error]: {}", error);
}
