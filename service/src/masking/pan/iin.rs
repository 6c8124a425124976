//! Issuer identification number (IIN) ranges of the card brands hoop recognises.
//!
//! The table is data: to recognise another brand or range, add a row to [`IIN_RANGES`]. Rows
//! may overlap (Maestro's 56–69 covers Discover's 65); the first matching row names the brand.

/// A card brand, as far as the leading digits tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Brand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    DinersClub,
    UnionPay,
    Maestro,
}

/// Card numbers whose first `digits` digits, read as a number, lie in `low..=high`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IinRange {
    pub brand: Brand,
    /// How many leading digits the range speaks about (1 to 6).
    pub digits: u8,
    pub low: u32,
    pub high: u32,
}

const fn range(brand: Brand, digits: u8, low: u32, high: u32) -> IinRange {
    IinRange {
        brand,
        digits,
        low,
        high,
    }
}

/// The known IIN ranges, most specific first where rows overlap.
pub const IIN_RANGES: &[IinRange] = &[
    range(Brand::Visa, 1, 4, 4),
    range(Brand::Mastercard, 2, 51, 55),
    range(Brand::Mastercard, 4, 2221, 2720),
    range(Brand::Amex, 2, 34, 34),
    range(Brand::Amex, 2, 37, 37),
    range(Brand::Discover, 4, 6011, 6011),
    range(Brand::Discover, 6, 622126, 622925),
    range(Brand::Discover, 3, 644, 649),
    range(Brand::Discover, 2, 65, 65),
    range(Brand::Jcb, 4, 3528, 3589),
    range(Brand::DinersClub, 3, 300, 305),
    range(Brand::DinersClub, 2, 36, 36),
    range(Brand::DinersClub, 2, 38, 39),
    range(Brand::UnionPay, 2, 62, 62),
    range(Brand::UnionPay, 2, 81, 81),
    range(Brand::Maestro, 2, 50, 50),
    range(Brand::Maestro, 2, 56, 69),
];

/// `true` at index `p` when some row may match a number starting with the two digits `p`:
/// a quick reject computed from [`IIN_RANGES`] at compile time.
const TWO_DIGIT_PREFIXES: [bool; 100] = {
    let mut table = [false; 100];
    let mut i = 0;
    while i < IIN_RANGES.len() {
        let row = &IIN_RANGES[i];
        let (low, high) = if row.digits == 1 {
            (row.low * 10, row.high * 10 + 9)
        } else {
            let scale = 10u32.pow(row.digits as u32 - 2);
            (row.low / scale, row.high / scale)
        };
        let mut p = low;
        while p <= high {
            table[p as usize] = true;
            p += 1;
        }
        i += 1;
    }
    table
};

/// Whether some row of [`IIN_RANGES`] may match a number starting with these two digits
/// (`4` for `04`): a quick reject before six digits are known.
#[inline]
pub fn may_start(first_two: u32) -> bool {
    TWO_DIGIT_PREFIXES
        .get(first_two as usize)
        .copied()
        .unwrap_or(false)
}

/// The brand of a card number given its first six digits read as a number (`"041111"` is
/// 41111), or `None` when no row of [`IIN_RANGES`] matches.
pub fn brand_of(first_six: u32) -> Option<Brand> {
    if first_six > 999_999 || !may_start(first_six / 10_000) {
        return None;
    }
    // The number's prefix of each length, computed once (divisions by constants) rather than
    // once per row: this runs for every 13–19 digit number of a result.
    let prefixes = [
        0,
        first_six / 100_000,
        first_six / 10_000,
        first_six / 1_000,
        first_six / 100,
        first_six / 10,
        first_six,
    ];
    IIN_RANGES
        .iter()
        .find(|row| {
            let prefix = prefixes[usize::from(row.digits).min(6)];
            (row.low..=row.high).contains(&prefix)
        })
        .map(|row| row.brand)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_well_formed() {
        for row in IIN_RANGES {
            assert!((1..=6).contains(&row.digits), "{row:?}");
            assert!(row.low <= row.high, "{row:?}");
            assert!(row.high < 10u32.pow(u32::from(row.digits)), "{row:?}");
            assert!(row.low >= 10u32.pow(u32::from(row.digits) - 1), "{row:?}");
        }
    }

    #[test]
    fn brands_by_prefix() {
        assert_eq!(brand_of(411111), Some(Brand::Visa));
        assert_eq!(brand_of(555555), Some(Brand::Mastercard));
        assert_eq!(brand_of(222300), Some(Brand::Mastercard));
        assert_eq!(brand_of(272099), Some(Brand::Mastercard));
        assert_eq!(brand_of(272100), None);
        assert_eq!(brand_of(222099), None);
        assert_eq!(brand_of(378282), Some(Brand::Amex));
        assert_eq!(brand_of(601111), Some(Brand::Discover));
        assert_eq!(brand_of(622126), Some(Brand::Discover));
        assert_eq!(brand_of(622125), Some(Brand::UnionPay));
        assert_eq!(brand_of(353011), Some(Brand::Jcb));
        assert_eq!(brand_of(352799), None);
        assert_eq!(brand_of(305693), Some(Brand::DinersClub));
        assert_eq!(brand_of(306000), None);
        assert_eq!(brand_of(620000), Some(Brand::UnionPay));
        assert_eq!(brand_of(810000), Some(Brand::UnionPay));
        assert_eq!(brand_of(501234), Some(Brand::Maestro));
        assert!(may_start(41) && may_start(22) && may_start(81) && may_start(30));
        assert!(!may_start(20) && !may_start(80) && !may_start(4) && !may_start(100));
        assert_eq!(brand_of(690000), Some(Brand::Maestro));
        for none in [
            0, 41111, 111111, 199999, 310000, 700000, 800000, 999999, 1_000_000,
        ] {
            assert_eq!(brand_of(none), None, "{none}");
        }
    }
}
