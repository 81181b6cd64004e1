"""Hostile inputs and legitimate values for the guard suite (grouped by class, many locales).

Each list is one *class* of identifier; the suite puts every value into a free column, into the
``site`` label column and (where it makes sense) into ``patient_id``, next to harmless values.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------- names
#: Names that are refused even as a single value among codes (title, particle, "Surname, Given").
NAMES_ANY = [
    "Mrs Jones", "Mr. Smith", "Ms Patel", "Dr Müller", "Prof. Nakamura", "Miss O'Hara", "Sir Roger Bannister",
    "Frau Schäfer", "Herr Köhler", "Mme Lefèvre", "M. Dupont", "Mlle Girard", "Sr. García", "Sra. Núñez", "Dña. Pilar",
    "Sig.ra Rossi", "Sig. Bianchi", "Dott.ssa Ferri", "Mevr. de Vries", "Dhr. Jansen", "Pan Kowalski", "Pani Nowak",
    "Fru Lindqvist", "Herra Virtanen", "Bay Yılmaz", "Shri Ramesh", "Smt. Lakshmi", "г-н Иванов", "г-жа Петрова",
    "κ. Παπαδόπουλος", "السيد محمد", "山田さん", "王先生", "김민수 씨",
    "Ludwig van Beethoven", "Anna van der Berg", "Juan de la Cruz", "Otto von Bismarck", "Ahmad bin Ismail",
    "Omar al-Farouk", "Karim el-Amin", "Seán O'Brien", "O'Brien", "McDonald", "Ronald MacLeod", "Maria dos Santos",
    "Leonardo da Vinci", "Pedro de Souza", "Giulia della Valle", "Smith, John", "Muñoz, José", "Öztürk, Zoë",
    "Петров, Иван", "J. Smith",
]
#: Plain personal names: refused when (at least half of) a column is such names.
NAMES_COLUMN = [
    "José Muñoz", "Zoë Öztürk", "Łukasz Żółć", "Иван Петров", "Γιώργος Παπαδόπουλος", "محمد علي", "דוד לוי",
    "राहुल शर्मा", "王小明", "山田 太郎", "김민수", "Nguyễn Văn An", "Ngozi Okonkwo", "Ana Lúcia Ferreira",
    "Jean-Luc Picard", "Søren Kierkegaard", "Ólafur Arnalds", "Ştefan Popescu", "Ayşe Kaya", "สมชาย ใจดี",
]

# ---------------------------------------------------------------------------------------- contact
EMAILS = [
    "jane.doe@example.org", "用户@例子.广告", "jo@bücher.de", "jo@xn--bcher-kva.de", "δοκιμή@παράδειγμα.δοκιμή",
    "иван@пример.рф", "JOHN.SMITH@NHS.NET", "jo (at) example (dot) org", "jo[at]example.org", "jo＠example.org",
    "contact: a.b+tag@mail.co.uk",
]
WEB = ["https://facebook.com/jane.doe", "www.janedoe.me", "xn--80ak6aa92e.com"]
PHONES = [
    "+44 20 7946 0958 ext. 123", "(555) 123-4567 x89", "tel:+1-555-123-4567", "tel:+44 20 7946 0958", "+44 7700 900123",
    "(020) 7946 0958", "0049 30 1234567", "+33 1 23 45 67 89", "06 12 34 56 78", "+49 (0)30 123 456 78",
    "Tel: 030 1234567", "Tel. 0211/123456", "Mob: 07700 900123", "+81 3-1234-5678", "+86 138 0013 8000",
    "+91 98765 43210", "+7 (495) 123-45-67", "555-123-4567", "+１ ５５５ １２３ ４５６７", "+٩٦٦ ٥٠ ١٢٣ ٤٥٦٧",
]

# ---------------------------------------------------------------------------------------- national numbers
NATIONAL_IDS = [
    "NHS: 943 476 5919", "NHS 9434765919", "943 476 5919", "SSN 123-45-6789", "123-45-6789", "BSN 123456782",
    "19850212-1234", "850212-1234", "120285-1234", "120285-123A", "120285+123B", "RSSMRA85T10A562S",
    "rssmra85t10a562s", "12345678Z", "X1234567L", "1 85 05 78 006 084 36", "185057800608436",
    "Steuer-ID 12 345 678 901", "Steuer-ID: 12345678901", "PESEL 85021212345", "85021212345", "123.456.789-09",
    "850212-1234567", "11010519850212123X", "110105198502121234", "1234 5678 9012", "Aadhaar 1234 5678 9012",
    "QQ 12 34 56 C", "AB123456C", "S1234567D", "A123456(7)", "GOMA850212HDFRRL09", "CHI 1202851234",
    "Personnummer 8502121234", "CPR-nr. 120285-1234", "DNI 12345678-Z", "NIE Y1234567X", "AHV 756.1234.5678.97",
    "SVNR 1234 120285", "AMKA 12028512345", "EGN 8502121234",
]
RECORD_NUMBERS = [
    "MRN 0012345", "MRN-00012345", "UR 123456", "Hosp No 1234567", "hospital number 4711234", "0001234",
    "00123456", "4711234567",
]

# ---------------------------------------------------------------------------------------- dates
DATES = [
    "2024-03-15", "15/03/2024", "03-15-24", "15.03.2024", "1985/02/12", "15.3.24", "2024.3.15", "15 03 2024",
    "15 March 2024", "March 15, 2024", "15-Mar-24", "Mar 2024", "15 mars 2024", "le 1er janvier 2024", "15. März 2024",
    "15 de marzo de 2024", "15 marzo 2024", "15 maart 2024", "15 de março de 2024", "15 juni 2024", "15 marca 2024",
    "15 března 2024", "15 Mart 2024", "15 марта 2024", "15 Μαρτίου 2024", "2024. március 15", "15. maaliskuuta 2024",
    "2024年3月15日", "2024 年 3 月 15 日", "3月15日", "2024년 3월 15일", "令和6年3月15日", "15-III-2024", "15.XII.85",
    "2024-W11", "2024W113", "20240315", "15032024", "2024-03-15T10:30:00Z", "2024-03-15 10:30", "born 1985/02/12",
    "seen 12.02.85", "Feb 12th, 1985", "12th February 1985", "février 2024", "Dezember 1985", "diciembre de 1985",
    "dicembre 1985", "2024–03–15",
]

# ---------------------------------------------------------------------------------------- addresses
ADDRESSES = [
    "12 Baker Street", "Flat 3, 221b Baker St", "Hauptstraße 5", "Bahnhofstr. 12", "12 rue de la Paix", "Via Roma 10",
    "Calle Mayor 5", "Rua Augusta 100", "Kerkstraat 12", "Storgatan 4", "ul. Marszałkowska 10", "Apt 4B",
    "東京都千代田区1丁目2番地", "ул. Ленина, д. 5",
]
POSTCODES = ["SW1A 1AA", "EC1A 1BB", "02139-4307", "K1A 0B1", "1012 AB", "00-950", "114 55", "〒100-0001", "01310-100",
             "10115 Berlin", "75008 Paris"]

# ---------------------------------------------------------------------------------------- free text
FREE_TEXT = [
    "Patient reports tingling in the foot since the fall", "Le patient signale des fourmillements depuis la chute",
    "患者は転倒後から足のしびれと脱力を訴えており経過観察中である", "x" * 61, "a" * 5_000,
]

# ---------------------------------------------------------------------------------------- patient keys
#: Identifying patient keys (each refused in a patient_id column of its own).
KEYS_BAD = [
    "Mrs Jones", "Jones", "SMITH", "José Muñoz", "王小明", "김민수", "O'Brien", "Jean-Luc",
    "0001234", "000042", "0123", "RX1234567", "H123456", "MRN-00012345", "K0123456", "AB9876543", "UR123456",
    "HN-4711", "NHS9434765919", "PAS 123456", "JS120285", "JS 12/02/85", "JS-1985-02-12", "JS-120285", "ABC311299",
    "120285JS", "P-19850212-01", "2024-03-15_001", "1985.02.12-A", "19850212", "ID-20240315-7", "Visit 15.03.2024",
    "123456789", "1234567", "jane.doe@example.org", "+44 7700 900123", "SW1A 1AA", "850212-1234567",
    "RSSMRA85T10A562S", "12345678Z",
]
#: Legitimate keys (each column of these must pass).
KEYS_GOOD_COLUMNS = [
    ["P0000001", "P0000002", "P0000120"],  # pseudonymise_ids
    [f"P{i:06d}" for i in range(1, 2001)],  # the simulator
    [f"FD-{i:04d}" for i in range(1, 121)],  # the worked example
    ["A12", "B7", "C103"],
    ["PT-001", "PT-002", "PT-117"],
    ["S01-0001", "S01-0002", "S02-0001"],
    ["SUBJ_0042", "SUBJ_0043"],
    ["1", "2", "17", "120"],
    ["a3f9c2e1b7", "0d4e5f6a7b", "9c8b7a6d5e"],  # hashed pseudonyms (hex)
    ["FD2024-001", "FD2024-002"],  # year and sequence, no full date
    ["K-17", "K-18"],
]

# ---------------------------------------------------------------------------------------- legitimate values
LABELS_GOOD = ["S01", "S02", "Clinic A", "Clinic D", "North", "Site 3", "St Mary's Hospital", "Leeds General Infirmary",
               "Hôpital de la Pitié", "Klinikum Nord", "Universitätsklinikum", "Hospital 12 de Octubre", "北京协和医院",
               "Ward 7", "centre-2", "Ospedale San Raffaele", "Clinique du Parc", "Royal Infirmary"]
#: Source codes and text a real extract holds in categorical columns (the worked example and more).
CODES_GOOD = ["F", "M", "L", "R", "Bilat", "CVA", "MS", "MND/ALS", "Post THR/TKR", "Post spinal surgery",
              "Common peroneal nerve palsy", "L5 radiculopathy", "Peripheral neuropathy", "Mild", "Moderate", "Severe",
              "Never", "Ex", "Current", "-", "solid", "articulated", "carbon fibre", "0", "DECOMP", "NERVE", "TPT",
              "completed", "lost to follow-up", "died", "yes", "no", "N", "Y", "2-", "3+", "4/5", "MRC 4", "NA",
              "weiblich", "männlich", "links", "rechts", "Schlaganfall", "AVC", "ictus", "ja", "nein", "oui", "non",
              "sí", "女性", "男性", "脳卒中", "инсульт", "gauche", "droite", "Apoplexie", "Post-op day 3", "4 weeks",
              "12.5", "0.5", "1985", "2024", "3650", "v1.2", "W2"]
