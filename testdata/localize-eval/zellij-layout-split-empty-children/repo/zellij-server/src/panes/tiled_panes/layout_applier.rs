use zellij_utils::input::layout::{SplitDirection, SplitSize, TiledPaneLayout};
use zellij_utils::pane_size::{Dimension, PaneGeom};

pub struct LayoutApplier {
    viewport: PaneGeom,
}

impl LayoutApplier {
    pub fn new(viewport: PaneGeom) -> Self {
        LayoutApplier { viewport }
    }

    pub fn apply(&mut self, layout: &TiledPaneLayout) -> Result<Vec<PaneGeom>, String> {
        let mut out = Vec::new();
        self.apply_node(layout, self.viewport, &mut out)?;
        Ok(out)
    }

    fn apply_node(&self, layout: &TiledPaneLayout, space: PaneGeom, out: &mut Vec<PaneGeom>) -> Result<(), String> {
        if layout.children.is_empty() {
            out.push(space);
            return Ok(());
        }
        let visible: Vec<&TiledPaneLayout> = layout.children.iter().filter(|c| !c.is_hidden()).collect();
        let geoms = split_space(&space, layout.children_split_direction, &visible);
        for (child, geom) in visible.iter().zip(geoms) {
            self.apply_node(child, geom, out)?;
        }
        Ok(())
    }
}

fn split_space(space: &PaneGeom, direction: SplitDirection, parts: &[&TiledPaneLayout]) -> Vec<PaneGeom> {
    let total = match direction {
        SplitDirection::Vertical => space.cols.as_usize(),
        SplitDirection::Horizontal => space.rows.as_usize(),
    };
    let fixed: usize = parts
        .iter()
        .filter_map(|p| match p.split_size {
            Some(SplitSize::Fixed(n)) => Some(n),
            _ => None,
        })
        .sum();
    let flexible = parts.iter().filter(|p| !matches!(p.split_size, Some(SplitSize::Fixed(_)))).count();
    let each = (total - fixed) / flexible;
    let mut geoms = Vec::with_capacity(parts.len());
    let mut offset = 0;
    for part in parts {
        let size = match part.split_size {
            Some(SplitSize::Fixed(n)) => n,
            _ => each,
        };
        let mut geom = *space;
        match direction {
            SplitDirection::Vertical => {
                geom.x = space.x + offset;
                geom.cols = Dimension::fixed(size);
            }
            SplitDirection::Horizontal => {
                geom.y = space.y + offset;
                geom.rows = Dimension::fixed(size);
            }
        }
        offset += size;
        geoms.push(geom);
    }
    geoms
}
