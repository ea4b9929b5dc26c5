use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::room::{Room, RoomId};

type SelectedCallback = Box<dyn Fn(&RoomId)>;

pub struct Sidebar {
    rooms: Rc<RefCell<HashMap<RoomId, Room>>>,
    selected: RefCell<Option<RoomId>>,
    on_selected: RefCell<Vec<SelectedCallback>>,
}

impl Sidebar {
    pub fn new(rooms: Rc<RefCell<HashMap<RoomId, Room>>>) -> Self {
        Sidebar { rooms, selected: RefCell::new(None), on_selected: RefCell::new(Vec::new()) }
    }

    pub fn connect_selected<F: Fn(&RoomId) + 'static>(&self, f: F) {
        self.on_selected.borrow_mut().push(Box::new(f));
    }

    pub fn select_room(&self, id: &RoomId) {
        let rooms = self.rooms.borrow();
        if let Some(room) = rooms.get(id) {
            self.selected.replace(Some(room.id.clone()));
            self.emit_selected(&room.id);
        }
    }

    fn emit_selected(&self, id: &RoomId) {
        for cb in self.on_selected.borrow().iter() {
            cb(id);
        }
    }
}
