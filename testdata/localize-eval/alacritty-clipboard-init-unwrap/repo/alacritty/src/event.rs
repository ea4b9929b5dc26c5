use std::rc::Rc;

use glutin::display::GetGlDisplay;
use raw_window_handle::HasRawDisplayHandle;
use winit::event_loop::EventLoop;

use crate::clipboard::Clipboard;
use crate::config::UiConfig;

pub struct Processor {
    clipboard: Clipboard,
    config: Rc<UiConfig>,
}

impl Processor {
    pub fn new(config: UiConfig, event_loop: &EventLoop<Event>) -> Processor {
        // Initialize the clipboard.
        let display = event_loop.raw_display_handle();
        let clipboard = unsafe { Clipboard::new(display) };

        Processor { clipboard, config: Rc::new(config) }
    }
}
