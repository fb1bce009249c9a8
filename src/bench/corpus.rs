//! Synthetic but English-like library content from a seeded RNG: a Zipf-distributed vocabulary
//! (common English words first, then made-up rarer words), document titles, and a few fixed
//! phrases sprinkled in so phrase search has something to find.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The most frequent words, most frequent first (rank 1 = "the").
const COMMON: &[&str] = &[
    "the", "of", "and", "to", "in", "for", "is", "on", "that", "by", "this", "with", "you", "it", "not", "or", "be", "are",
    "from", "at", "as", "your", "all", "have", "new", "more", "an", "was", "we", "will", "can", "us", "about", "if", "page",
    "my", "has", "our", "one", "other", "do", "no", "information", "time", "they", "site", "he", "up", "may", "what", "which",
    "their", "news", "out", "use", "any", "there", "see", "only", "so", "his", "when", "contact", "here", "business", "who",
    "also", "now", "help", "get", "view", "first", "been", "would", "how", "were", "me", "services", "some", "these", "its",
    "like", "service", "than", "find", "price", "date", "back", "top", "people", "had", "list", "name", "just", "over", "state",
    "year", "day", "into", "email", "two", "health", "world", "next", "used", "go", "work", "last", "most", "products", "music",
    "buy", "data", "make", "them", "should", "product", "system", "post", "her", "city", "add", "policy", "number", "such",
    "please", "available", "copyright", "support", "message", "after", "best", "software", "then", "jan", "good", "video",
    "well", "where", "info", "rights", "public", "books", "high", "school", "through", "each", "links", "she", "review", "years",
    "order", "very", "privacy", "book", "items", "company", "read", "group", "need", "many", "user", "said", "does", "set",
    "under", "general", "research", "university", "january", "mail", "full", "map", "reviews", "program", "life", "know",
    "games", "way", "days", "management", "part", "could", "great", "united", "hotel", "real", "item", "international",
    "center", "ebay", "must", "store", "travel", "comments", "made", "development", "report", "off", "member", "details",
    "line", "terms", "before", "hotels", "did", "send", "right", "type", "because", "local", "those", "using", "results",
    "office", "education", "national", "car", "design", "take", "posted", "internet", "address", "community", "within",
    "states", "area", "want", "phone", "shipping", "reserved", "subject", "between", "forum", "family", "long", "based",
    "code", "show", "even", "black", "check", "special", "prices", "website", "index", "being", "women", "much", "sign",
    "file", "link", "open", "today", "technology", "south", "case", "project", "same", "pages", "uk", "version", "section",
    "own", "found", "sports", "house", "related", "security", "both", "county", "american", "photo", "game", "members",
    "power", "while", "care", "network", "down", "computer", "systems", "three", "total", "place", "end", "following",
    "download", "him", "without", "per", "access", "think", "north", "resources", "current", "posts", "big", "media", "law",
    "control", "water", "history", "pictures", "size", "art", "personal", "since", "including", "guide", "shop", "directory",
    "board", "location", "change", "white", "text", "small", "rating", "rate", "government", "children", "during", "usa",
    "return", "students", "shopping", "account", "times", "sites", "level", "digital", "profile", "previous", "form",
    "events", "love", "old", "john", "main", "call", "hours", "image", "department", "title", "description", "non",
    "insurance", "another", "why", "shall", "property", "class", "still", "money", "quality", "every", "listing", "content",
    "country", "private", "little", "visit", "save", "tools", "low", "reply", "customer", "december", "compare", "movies",
    "include", "college", "value", "article", "york", "man", "card", "jobs", "provide", "food", "source", "author",
    "different", "press", "learn", "sale", "around", "print", "course", "job", "canada", "process", "teen", "room", "stock",
    "training", "too", "credit", "point", "join", "science", "men", "categories", "advanced", "west", "sales", "look",
    "english", "left", "team", "estate", "box", "conditions", "select", "windows", "photos", "thread", "week", "category",
    "note", "live", "large", "gallery", "table", "register", "however", "june", "october", "november", "market", "library",
    "really", "action", "start", "series", "model", "features", "air", "industry", "plan", "human", "provided", "yes",
    "required", "second", "hot", "accessories", "cost", "movie", "forums", "march", "la", "september", "better", "say",
    "questions", "july", "yahoo", "going", "medical", "test", "friend", "come", "server", "study", "application", "cart",
    "staff", "articles", "san", "feedback", "again", "play", "looking", "issues", "april", "never", "users", "complete",
    "street", "topic", "comment", "financial", "things", "working", "against", "standard", "tax", "person", "below",
    "mobile", "less", "got", "blog", "party", "payment", "equipment", "login", "student", "let", "programs", "offers",
    "legal", "above", "recent", "park", "stores", "side", "act", "problem", "red", "give", "memory", "performance",
    "social", "august", "quote", "language", "story", "sell", "options", "experience", "rates", "create", "key", "body",
    "young", "america", "important", "field", "few", "east", "paper", "single", "age", "activities", "club", "example",
    "girls", "additional", "password", "latest", "something", "road", "gift", "question", "changes", "night", "hard",
    "texas", "oct", "pay", "four", "poker", "status", "browse", "issue", "range", "building", "seller", "court", "february",
    "always", "result", "audio", "light", "write", "war", "nov", "offer", "blue", "groups", "easy", "given", "files", "event",
    "release", "analysis", "request", "fax", "china", "making", "picture", "needs", "possible", "might", "professional",
    "yet", "month", "major", "star", "areas", "future", "space", "committee", "hand", "sun", "cards", "problems", "london",
    "washington", "meeting", "rss", "become", "interest", "id", "child", "keep", "enter", "california", "share", "similar",
    "garden", "schools", "million", "added", "reference", "companies", "listed", "baby", "learning", "energy", "run",
    "delivery", "net", "popular", "term", "film", "stories", "put", "computers", "journal", "reports", "try", "welcome",
    "central", "images", "president", "notice", "original", "head", "radio", "until", "cell", "color", "self", "council",
    "away", "includes", "track", "australia", "discussion", "archive", "once", "others", "entertainment", "agreement",
    "format", "least", "society", "months", "log", "safety", "friends", "sure", "faq", "trade", "edition", "cars", "messages",
    "marketing", "tell", "further", "updated", "association", "able", "having", "provides", "david", "fun", "already",
    "green", "studies", "close", "common", "drive", "specific", "several", "gold", "feb", "living", "sep", "collection",
    "called", "short", "arts", "lot", "ask", "display", "limited", "powered", "solutions", "means", "director", "daily",
    "beach", "past", "natural", "whether", "due", "electronics", "five", "upon", "period", "planning", "database", "says",
    "official", "weather", "mar", "land", "average", "done", "technical", "window", "france", "pro", "region", "island",
    "record", "direct", "microsoft", "conference", "environment", "records", "district", "calendar", "costs", "style",
    "front", "statement", "update", "parts", "aug", "ever", "downloads", "early", "miles", "sound", "resource", "present",
    "applications", "either", "ago", "document", "word", "works", "material", "bill", "apr", "written", "talk", "federal",
    "hosting", "rules", "final", "adult", "tickets", "thing", "centre", "requirements", "via", "cheap", "kids", "finance",
    "true", "minutes", "else", "mark", "third", "rock", "gifts", "europe", "reading", "topics", "bad", "individual", "tips",
    "plus", "auto", "cover", "usually", "edit", "together", "videos", "percent", "fast", "function", "fact", "unit",
    "getting", "global", "tech", "meet", "far", "economic", "en", "player", "projects", "lyrics", "often", "subscribe",
    "submit", "germany", "amount", "watch", "included", "feel", "though", "bank", "risk", "thanks", "everything", "deals",
    "various", "words", "linux", "jul", "production", "commercial", "james", "weight", "town", "heart", "advertising",
    "received", "choose", "treatment", "newsletter", "archives", "points", "knowledge", "magazine", "error", "camera",
    "jun", "girl", "currently", "construction", "toys", "registered", "clear", "golf", "receive", "domain", "methods",
    "chapter", "makes", "protection", "policies", "loan", "wide", "beauty", "manager", "india", "position", "taken", "sort",
    "listings", "models", "michael", "known", "half", "cases", "step", "engineering", "florida", "simple", "quick", "none",
    "wireless", "license", "paul", "friday", "lake", "whole", "annual", "published", "later", "basic", "sony", "shows",
    "corporate", "google", "church", "method", "purchase", "customers", "active", "response", "practice", "hardware",
    "figure", "materials", "fire", "holiday", "chat", "enough", "designed", "along", "among", "death", "writing", "speed",
    "html", "countries", "loss", "face", "brand", "discount", "higher", "effects", "created", "remember", "standards",
    "oil", "bit", "yellow", "political", "increase", "advertise", "kingdom", "base", "near", "environmental", "thought",
    "stuff", "french", "storage", "japan", "doing", "loans", "shoes", "entry", "stay", "nature", "orders", "availability",
    "africa", "summary", "turn", "mean", "growth", "notes", "agency", "king", "monday", "european", "activity", "copy",
    "although", "drug", "pics", "western", "income", "force", "cash", "employment", "overall", "bay", "river", "commission",
    "ad", "package", "contents", "seen", "players", "engine", "port", "album", "regional", "stop", "supplies", "started",
    "administration", "bar", "institute", "views", "plans", "double", "dog", "build", "screen", "exchange", "types", "soon",
    "sponsored", "lines", "electronic", "continue", "across", "benefits", "needed", "season", "apply", "someone", "held",
    "anything", "printer", "condition", "effective", "believe", "organization", "effect", "asked", "eur", "mind", "sunday",
    "selection", "casino", "lost", "tour", "menu", "volume", "cross", "anyone", "mortgage", "hope", "silver", "corporation",
    "wish", "inside", "solution", "mature", "role", "rather", "weeks", "addition", "came", "supply", "nothing", "certain",
    "usr", "executive", "running", "lower", "necessary", "union", "jewelry", "according", "dc", "clothing", "mon", "com",
    "particular", "fine", "names", "robert", "homepage", "hour", "gas", "skills", "six", "bush", "islands", "advice",
    "career", "military", "rental", "decision", "leave", "british", "teens", "pre", "huge", "sat", "woman", "facilities",
    "zip", "bid", "kind", "sellers", "middle", "move", "cable", "opportunities", "taking", "values", "division", "coming",
    "tuesday", "object", "lesbian", "appropriate", "machine", "logo", "length", "actually", "nice", "score", "statistics",
    "client", "ok", "returns", "capital", "follow", "sample", "investment", "sent", "shown", "saturday", "christmas",
    "england", "culture", "band", "flash", "ms", "lead", "george", "choice", "went", "starting", "registration", "fri",
    "thursday", "courses", "consumer", "hi", "airport", "foreign", "artist", "outside", "furniture", "levels", "channel",
    "letter", "mode", "phones", "ideas", "wednesday", "structure", "fund", "summer", "allow", "degree", "contract",
    "button", "releases", "wed", "homes", "super", "male", "matter", "custom", "virginia", "almost", "took", "located",
    "multiple", "asian", "distribution", "editor", "inn", "industrial", "cause", "potential", "song", "cnet", "ltd", "los",
    "hp", "focus", "late", "fall", "featured", "idea", "rooms", "female", "responsible", "inc", "communications", "win",
    "associated", "thomas", "primary", "cancer", "numbers", "reason", "tool", "browser", "spring", "foundation", "answer",
    "voice", "eg", "friendly", "schedule", "documents", "communication", "purpose", "feature", "bed", "comes", "police",
    "everyone", "independent", "ip", "approach", "cameras", "brown", "physical", "operating", "hill", "maps", "medicine",
    "deal", "hold", "ratings", "chicago", "forms", "glass", "happy", "tue", "smith", "wanted", "developed", "thank", "safe",
    "unique", "survey", "prior", "telephone", "sport", "ready", "feed", "animal", "sources", "mexico", "population", "pa",
    "regular", "secure", "navigation", "operations", "therefore", "simply", "evidence", "station", "christian", "round",
    "paypal", "favorite", "understand", "option", "master", "valley", "recently", "probably", "thu", "rentals", "sea",
    "built", "publications", "blood", "cut", "worldwide", "improve", "connection", "publisher", "hall", "larger",
    "anti", "networks", "earth", "parents", "nokia", "impact", "transfer", "introduction", "kitchen", "strong", "tel",
    "carolina", "wedding", "properties", "hospital", "ground", "overview", "ship", "accommodation", "owners", "disease",
];

/// Document-like phrases; about one page in ten contains one of them.
pub const PHRASES: &[&str] = &[
    "bank statement", "tax return", "invoice number", "insurance policy", "rental agreement", "electricity bill",
    "medical report", "pay slip", "purchase order", "warranty card",
];

const TITLE_KINDS: &[&str] = &[
    "Invoice", "Receipt", "Bank statement", "Letter", "Contract", "Tax return", "Insurance policy", "Pay slip", "Report",
    "Warranty", "Notice", "Certificate", "Manual", "Prescription", "Quote",
];

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ren", "sto", "vel", "dar", "qui", "bre", "tan", "sol", "mor", "pex", "lin", "gra", "hu", "zen", "fo",
    "ral", "nis", "ter", "ov", "cal", "dun", "ep", "wil", "jo", "shi", "bar", "nol",
];

pub struct Vocabulary {
    words: Vec<String>,
    /// Cumulative Zipf weights (exponent 1), for sampling by binary search.
    cumulative: Vec<f64>,
}

impl Vocabulary {
    /// `size` words: the common list, then made-up words (deterministic, all distinct).
    pub fn new(size: usize) -> Vocabulary {
        let mut words: Vec<String> = Vec::with_capacity(size);
        let mut seen = std::collections::HashSet::new();
        for w in COMMON {
            if seen.insert(w.to_string()) {
                words.push(w.to_string());
            }
        }
        let mut rng = StdRng::seed_from_u64(0x766f_6361_62);
        while words.len() < size {
            let n = rng.gen_range(2..=4);
            let w: String = (0..n).map(|_| SYLLABLES[rng.gen_range(0..SYLLABLES.len())]).collect();
            if seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Vocabulary { words, cumulative }
    }

    /// The word of the given frequency rank (1 = most frequent).
    pub fn word(&self, rank: usize) -> &str {
        &self.words[(rank.max(1) - 1).min(self.words.len() - 1)]
    }

    fn sample(&self, rng: &mut StdRng) -> &str {
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let x = rng.r#gen::<f64>() * total;
        let i = self.cumulative.partition_point(|&c| c < x);
        &self.words[i.min(self.words.len() - 1)]
    }

    /// One page of text: 150–400 words in sentences, sometimes with a phrase from `PHRASES`.
    pub fn page(&self, rng: &mut StdRng) -> String {
        let n = rng.gen_range(150..=400);
        let mut out = String::with_capacity(n * 7);
        let mut sentence_left = 0;
        let phrase_at = if rng.gen_bool(0.1) { Some(rng.gen_range(0..n)) } else { None };
        for i in 0..n {
            if sentence_left == 0 {
                if i > 0 {
                    out.push_str(". ");
                }
                sentence_left = rng.gen_range(6..20);
                let w = self.sample(rng);
                let mut cs = w.chars();
                if let Some(c) = cs.next() {
                    out.extend(c.to_uppercase());
                    out.push_str(cs.as_str());
                }
            } else {
                out.push(' ');
                if Some(i) == phrase_at {
                    out.push_str(PHRASES[rng.gen_range(0..PHRASES.len())]);
                } else {
                    out.push_str(self.sample(rng));
                }
            }
            sentence_left -= 1;
        }
        out.push('.');
        out
    }

    pub fn title(&self, rng: &mut StdRng) -> String {
        let kind = TITLE_KINDS[rng.gen_range(0..TITLE_KINDS.len())];
        format!("{kind} {} {} {}", self.word(rng.gen_range(20..2000)), self.word(rng.gen_range(100..5000)), rng.gen_range(1..10_000))
    }
}
