//! The demo target's data: generated from a seed, so every run of `locusta demo` serves the same
//! portfolios, counterparties and custom fields.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub const PORTFOLIOS: u32 = 5000;
pub const COUNTERPARTIES: u32 = 400;
pub const UDFS: u32 = 120;
pub const AUDIT_ENTRIES: u32 = 2000;

pub const PORTFOLIO_CURRENCIES: [&str; 9] = [
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SGD", "HKD",
];
pub const PORTFOLIO_STATUSES: [&str; 4] = ["ACTIVE", "INACTIVE", "PENDING", "CLOSED"];
pub const ENTITY_TYPES: [&str; 4] = ["PORTFOLIO", "TRADE", "COUNTERPARTY", "INSTRUMENT"];

const STRATEGIES: [&str; 10] = [
    "Growth",
    "Income",
    "Balanced",
    "Macro",
    "Credit",
    "Equity",
    "Rates",
    "Emerging Markets",
    "Arbitrage",
    "Treasury",
];
const MANAGERS: [&str; 12] = [
    "A. Rossi",
    "B. Chen",
    "C. Okafor",
    "D. Müller",
    "E. Tanaka",
    "F. Dubois",
    "G. Silva",
    "H. Novak",
    "I. Kowalski",
    "J. Haddad",
    "K. Larsen",
    "L. Moreau",
];
const CP_PREFIXES: [&str; 16] = [
    "Northern", "Atlas", "Harbor", "Summit", "Meridian", "Pacific", "Crown", "Granite", "Lakeside",
    "Sterling", "Orion", "Beacon", "Union", "Alpine", "Royal", "Coastal",
];
const CP_KINDS: [&str; 5] = ["Bank", "Broker", "Asset Management", "Insurance", "Bank"];
const RATINGS: [&str; 8] = ["AAA", "AA+", "AA", "A+", "A", "BBB+", "BBB", "BB"];
const UDF_TYPES: [&str; 5] = ["STRING", "NUMBER", "DATE", "BOOLEAN", "LIST"];
const UDF_NAMES: [&str; 12] = [
    "Risk Bucket",
    "Desk Code",
    "Legal Entity",
    "Booking Center",
    "Strategy Tag",
    "Review Date",
    "ESG Score",
    "Benchmark",
    "Settlement Route",
    "Approval Level",
    "Region",
    "Regulatory Class",
];
const ACTIONS: [&str; 6] = ["CREATE", "UPDATE", "VIEW", "EXPORT", "APPROVE", "LOGIN"];
const USERS: [&str; 6] = [
    "trader01",
    "trader02",
    "ops01",
    "admin01",
    "manager01",
    "ops02",
];

pub const CURRENCIES: [(&str, &str, u8); 30] = [
    ("USD", "US Dollar", 2),
    ("EUR", "Euro", 2),
    ("GBP", "Pound Sterling", 2),
    ("JPY", "Yen", 0),
    ("CHF", "Swiss Franc", 2),
    ("CAD", "Canadian Dollar", 2),
    ("AUD", "Australian Dollar", 2),
    ("NZD", "New Zealand Dollar", 2),
    ("SGD", "Singapore Dollar", 2),
    ("HKD", "Hong Kong Dollar", 2),
    ("CNY", "Yuan Renminbi", 2),
    ("INR", "Indian Rupee", 2),
    ("KRW", "Won", 0),
    ("SEK", "Swedish Krona", 2),
    ("NOK", "Norwegian Krone", 2),
    ("DKK", "Danish Krone", 2),
    ("PLN", "Zloty", 2),
    ("CZK", "Czech Koruna", 2),
    ("HUF", "Forint", 2),
    ("ZAR", "Rand", 2),
    ("BRL", "Brazilian Real", 2),
    ("MXN", "Mexican Peso", 2),
    ("CLP", "Chilean Peso", 0),
    ("TRY", "Turkish Lira", 2),
    ("ILS", "New Israeli Sheqel", 2),
    ("AED", "UAE Dirham", 2),
    ("SAR", "Saudi Riyal", 2),
    ("THB", "Baht", 2),
    ("IDR", "Rupiah", 2),
    ("KWD", "Kuwaiti Dinar", 3),
];

pub const COUNTRIES: [(&str, &str, &str); 24] = [
    ("US", "United States", "USD"),
    ("GB", "United Kingdom", "GBP"),
    ("DE", "Germany", "EUR"),
    ("FR", "France", "EUR"),
    ("JP", "Japan", "JPY"),
    ("CH", "Switzerland", "CHF"),
    ("CA", "Canada", "CAD"),
    ("AU", "Australia", "AUD"),
    ("SG", "Singapore", "SGD"),
    ("HK", "Hong Kong", "HKD"),
    ("CN", "China", "CNY"),
    ("IN", "India", "INR"),
    ("KR", "Korea", "KRW"),
    ("SE", "Sweden", "SEK"),
    ("NO", "Norway", "NOK"),
    ("DK", "Denmark", "DKK"),
    ("PL", "Poland", "PLN"),
    ("ZA", "South Africa", "ZAR"),
    ("BR", "Brazil", "BRL"),
    ("MX", "Mexico", "MXN"),
    ("IT", "Italy", "EUR"),
    ("ES", "Spain", "EUR"),
    ("NL", "Netherlands", "EUR"),
    ("AE", "United Arab Emirates", "AED"),
];

pub const CALENDARS: [(&str, &str, u32); 12] = [
    ("NYSE", "New York Stock Exchange", 10),
    ("LSE", "London Stock Exchange", 8),
    ("TARGET", "TARGET2", 6),
    ("TSE", "Tokyo Stock Exchange", 16),
    ("SIX", "SIX Swiss Exchange", 9),
    ("TSX", "Toronto Stock Exchange", 10),
    ("ASX", "Australian Securities Exchange", 9),
    ("SGX", "Singapore Exchange", 11),
    ("HKEX", "Hong Kong Exchange", 17),
    ("FED", "US Federal Reserve", 11),
    ("BOE", "Bank of England", 8),
    ("ECB", "European Central Bank", 6),
];

#[derive(Debug, Clone, Serialize)]
pub struct Portfolio {
    pub id: u32,
    pub name: String,
    pub currency: &'static str,
    pub status: &'static str,
    pub manager: &'static str,
    pub nav: f64,
    pub inception: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Counterparty {
    pub id: u32,
    pub name: String,
    pub kind: &'static str,
    pub country: &'static str,
    pub rating: &'static str,
    pub lei: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Udf {
    pub id: u32,
    pub name: String,
    pub entity_type: &'static str,
    pub data_type: &'static str,
    pub required: bool,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: u32,
    pub timestamp: String,
    pub user: &'static str,
    pub action: &'static str,
    pub entity: &'static str,
    pub entity_id: u32,
}

pub struct Data {
    pub portfolios: Vec<Portfolio>,
    pub counterparties: Vec<Counterparty>,
    pub udfs: Vec<Udf>,
    pub audit: Vec<AuditEntry>,
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn date(rng: &mut ChaCha8Rng) -> String {
    format!(
        "20{:02}-{:02}-{:02}",
        rng.random_range(10..26),
        rng.random_range(1..13),
        rng.random_range(1..29)
    )
}

impl Data {
    pub fn generate(seed: u64) -> Data {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let portfolios = (1..=PORTFOLIOS)
            .map(|id| {
                let currency = pick(&mut rng, &PORTFOLIO_CURRENCIES);
                let strategy = pick(&mut rng, &STRATEGIES);
                Portfolio {
                    id,
                    name: format!("{currency} {strategy} Portfolio {id:04}"),
                    currency,
                    status: pick(&mut rng, &PORTFOLIO_STATUSES),
                    manager: pick(&mut rng, &MANAGERS),
                    nav: (rng.random_range(1_000_000.0..900_000_000.0f64) * 100.0).round() / 100.0,
                    inception: date(&mut rng),
                }
            })
            .collect();
        let counterparties = (1..=COUNTERPARTIES)
            .map(|id| {
                let kind = pick(&mut rng, &CP_KINDS);
                Counterparty {
                    id,
                    name: format!("{} {kind} {id:03}", pick(&mut rng, &CP_PREFIXES)),
                    kind,
                    country: pick(&mut rng, &COUNTRIES).0,
                    rating: pick(&mut rng, &RATINGS),
                    lei: (0..20)
                        .map(|_| {
                            char::from(
                                b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"[rng.random_range(0..34)],
                            )
                        })
                        .collect(),
                }
            })
            .collect();
        let udfs = (1..=UDFS)
            .map(|id| {
                let entity_type = pick(&mut rng, &ENTITY_TYPES);
                let name = pick(&mut rng, &UDF_NAMES);
                Udf {
                    id,
                    name: format!("{name} {id}"),
                    entity_type,
                    data_type: pick(&mut rng, &UDF_TYPES),
                    required: rng.random_bool(0.3),
                    description: format!("{name} recorded on every {}", entity_type.to_lowercase()),
                }
            })
            .collect();
        let audit = (1..=AUDIT_ENTRIES)
            .rev()
            .map(|id| AuditEntry {
                id,
                timestamp: format!(
                    "2025-12-{:02}T{:02}:{:02}:{:02}Z",
                    1 + id * 26 / AUDIT_ENTRIES,
                    rng.random_range(0..24),
                    rng.random_range(0..60),
                    rng.random_range(0..60)
                ),
                user: pick(&mut rng, &USERS),
                action: pick(&mut rng, &ACTIONS),
                entity: pick(&mut rng, &ENTITY_TYPES),
                entity_id: rng.random_range(1..PORTFOLIOS),
            })
            .collect();
        Data {
            portfolios,
            counterparties,
            udfs,
            audit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data() {
        let a = Data::generate(42);
        let b = Data::generate(42);
        assert_eq!(a.portfolios[1234].name, b.portfolios[1234].name);
        assert_eq!(a.counterparties[17].lei, b.counterparties[17].lei);
        assert_ne!(
            Data::generate(7).portfolios[1234].name,
            a.portfolios[1234].name
        );
        assert_eq!(a.portfolios.len(), PORTFOLIOS as usize);
        assert!(
            a.counterparties
                .iter()
                .filter(|c| c.name.contains("Bank"))
                .count()
                > 50
        );
        assert!(a.portfolios.iter().filter(|p| p.currency == "USD").count() > 300);
    }
}
