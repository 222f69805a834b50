//! Tests of Kiln plugins (see tests/).
