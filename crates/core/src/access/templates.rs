pub fn templates() -> Vec<super::model::Policy> {
    Vec::new()
}
