use tui::backend::TestBackend;
use tui::text::Spans;
use tui::widgets::Tabs;
use tui::Terminal;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = TestBackend::new(12, 1);
    let mut terminal = Terminal::new(backend)?;
    let titles = ["Tab1", "Tab2", "Tab3", "Tab4"].iter().cloned().map(Spans::from).collect();
    terminal.draw(|f| {
        let tabs = Tabs::new(titles);
        f.render_widget(tabs, f.size());
    })?;
    Ok(())
}
