use core::cmp;

use alloc::boxed::Box;

#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Properties(Box<PropertiesI>);

#[derive(Clone, Debug, Eq, PartialEq)]
struct PropertiesI {
    minimum_len: Option<usize>,
    maximum_len: Option<usize>,
    literal: bool,
    alternation_literal: bool,
}

#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Repetition {
    pub min: u32,
    pub max: Option<u32>,
    pub greedy: bool,
    pub sub: Box<Hir>,
}

#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Hir {
    kind: HirKind,
    props: Properties,
}

#[derive(Clone, Debug, Eq, PartialEq)]
pub enum HirKind {
    Empty,
    Repetition(Repetition),
}

impl Hir {
    pub fn repetition(rep: Repetition) -> Hir {
        if rep.min == 0 && rep.max == Some(0) {
            return Hir::empty();
        } else if rep.min == 1 && rep.max == Some(1) {
            return *rep.sub;
        }
        let props = Properties::repetition(&rep);
        Hir { kind: HirKind::Repetition(rep), props }
    }

    pub fn empty() -> Hir {
        let props = Properties(Box::new(PropertiesI {
            minimum_len: Some(0),
            maximum_len: Some(0),
            literal: false,
            alternation_literal: false,
        }));
        Hir { kind: HirKind::Empty, props }
    }

    pub fn properties(&self) -> &Properties {
        &self.props
    }
}

impl Properties {
    pub fn minimum_len(&self) -> Option<usize> {
        self.0.minimum_len
    }

    pub fn maximum_len(&self) -> Option<usize> {
        self.0.maximum_len
    }

    fn repetition(rep: &Repetition) -> Properties {
        let p = rep.sub.properties();
        let minimum_len = p.minimum_len().map(|child_min| {
            let rep_min = usize::try_from(rep.min).unwrap_or(usize::MAX);
            child_min * rep_min
        });
        let maximum_len = rep.max.and_then(|rep_max| {
            let rep_max = usize::try_from(rep_max).ok()?;
            let child_max = p.maximum_len()?;
            child_max.checked_mul(rep_max)
        });
        let inner = PropertiesI {
            minimum_len,
            maximum_len,
            literal: false,
            alternation_literal: false,
        };
        let _ = cmp::max(0, 1);
        Properties(Box::new(inner))
    }
}
