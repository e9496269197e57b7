//! Path validation for writes (§6.3).

use super::*;
use crate::conformance::spec::Scenario;

pub fn all() -> Vec<Scenario> {
    vec![path_segments(), path_characters()]
}

fn path_segments() -> Scenario {
    let mut b = B::new("path_segments", "segment rules: trailing /, empty segment, . and .. segments are invalid; .foo, a..b, ... and spaces are fine; zookeeper is an ordinary name below the top level");
    let r = b.p("");
    let cases = [
        format!("{r}/x/"),
        format!("{r}//x"),
        format!("{r}/."),
        format!("{r}/.."),
        format!("{r}/.foo"),
        format!("{r}/a..b"),
        format!("{r}/..."),
        format!("{r}/.."),
        format!("{r}/with space"),
        format!("{r}/zookeeper"),
        format!("{r}/-"),
        "/zookeeper/newchild".to_owned(),
    ];
    for p in &cases {
        b.req("a", create(p, "", 0));
    }
    b.req("a", children(&r, false))
        .req("a", delete("/zookeeper/newchild", -1));
    b.build()
}

fn path_characters() -> Scenario {
    let mut b = B::new("path_characters", "character rules: NUL, U+0001-001F, U+007F-009F, U+E000-F8FF, U+FFF0-FFFF and non-BMP characters are invalid; U+00A0, é, U+F900, U+FFEF are fine");
    let r = b.p("");
    let chars = [
        '\u{0}',
        '\u{1}',
        '\u{1f}',
        '\u{7f}',
        '\u{80}',
        '\u{9f}',
        '\u{a0}',
        'é',
        '\u{d7ff}',
        '\u{e000}',
        '\u{f8ff}',
        '\u{f900}',
        '\u{ffef}',
        '\u{fff0}',
        '\u{fffd}',
        '\u{ffff}',
        '\u{1f600}',
    ];
    for c in chars {
        let p = format!("{r}/c{c}x");
        b.req("a", create(&p, "", 0));
    }
    b.req("a", children(&r, false));
    b.build()
}
