//! Drives one operation through the pipeline (being written).
