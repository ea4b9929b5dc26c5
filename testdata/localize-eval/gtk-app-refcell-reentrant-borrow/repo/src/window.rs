use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::room::{Room, RoomId};
use crate::sidebar::Sidebar;

pub struct Window {
    rooms: Rc<RefCell<HashMap<RoomId, Room>>>,
    sidebar: Rc<Sidebar>,
}

impl Window {
    pub fn new() -> Self {
        let rooms = Rc::new(RefCell::new(HashMap::new()));
        let sidebar = Rc::new(Sidebar::new(rooms.clone()));
        let window = Window { rooms: rooms.clone(), sidebar };
        let rooms_for_cb = rooms;
        window.sidebar.connect_selected(move |id| {
            mark_read(&rooms_for_cb, id);
        });
        window
    }

    pub fn on_row_activated(&self, id: &RoomId) {
        self.sidebar.select_room(id);
    }
}

fn mark_read(rooms: &Rc<RefCell<HashMap<RoomId, Room>>>, id: &RoomId) {
    let mut rooms = rooms.borrow_mut();
    if let Some(room) = rooms.get_mut(id) {
        room.unread = 0;
        room.highlight = false;
    }
}
