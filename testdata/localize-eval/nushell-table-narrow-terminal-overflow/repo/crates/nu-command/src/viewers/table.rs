use nu_protocol::ast::Call;
use nu_protocol::engine::{Command, EngineState, Stack};
use nu_protocol::{Config, PipelineData, ShellError, Span, Value};
use nu_table::{NuTable, TableTheme};
use terminal_size::{terminal_size, Height, Width};

const INDEX_COLUMN_NAME: &str = "index";

pub fn get_width_param(width_param: Option<i64>) -> usize {
    if let Some(col) = width_param {
        col as usize
    } else if let Some((Width(w), Height(_))) = terminal_size() {
        w as usize
    } else {
        80
    }
}

fn build_table_kv(record: Vec<(String, Value)>, config: &Config, term_width: usize) -> Option<String> {
    let theme = TableTheme::from(config);
    let data: Vec<Vec<String>> = record
        .into_iter()
        .map(|(k, v)| vec![k, v.into_abbreviated_string(config)])
        .collect();
    let key_width = data.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let widths = vec![key_width, term_width];
    let table = NuTable::new(data, widths, false, false);
    table.draw(config, &theme, term_width)
}

fn handle_row_stream(vals: Vec<Value>, config: &Config, term_width: usize, span: Span) -> Result<PipelineData, ShellError> {
    let theme = TableTheme::from(config);
    let index_width = vals.len().to_string().len() + 2;
    let data: Vec<Vec<String>> = vals
        .iter()
        .enumerate()
        .map(|(i, v)| vec![i.to_string(), v.into_abbreviated_string(config)])
        .collect();
    let widths = vec![index_width, 40];
    let table = NuTable::new(data, widths, true, true);
    let out = table
        .draw(config, &theme, term_width - index_width)
        .unwrap_or_else(|| format!("Couldn't fit table into {} columns!", term_width));
    Ok(Value::string(out, span).into_pipeline_data())
}

pub struct Table;

impl Command for Table {
    fn name(&self) -> &str {
        "table"
    }

    fn run(&self, engine_state: &EngineState, stack: &mut Stack, call: &Call, input: PipelineData) -> Result<PipelineData, ShellError> {
        let config = engine_state.get_config();
        let width_param: Option<i64> = call.get_flag(engine_state, stack, "width")?;
        run_table(input, config, width_param, call.head)
    }
}

pub fn run_table(input: PipelineData, config: &Config, width_param: Option<i64>, span: Span) -> Result<PipelineData, ShellError> {
    let term_width = get_width_param(width_param);
    match input {
        PipelineData::Value(Value::List { vals, .. }, ..) => handle_row_stream(vals, config, term_width, span),
        PipelineData::Value(Value::Record { cols, vals, .. }, ..) => {
            let out = build_table_kv(cols.into_iter().zip(vals).collect(), config, term_width).unwrap_or_default();
            Ok(Value::string(out, span).into_pipeline_data())
        }
        other => Ok(other),
    }
}
