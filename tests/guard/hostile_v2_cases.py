"""Second hostile-input corpus for the guard (issue 12, second review), decided before running.

None of these values is in ``guard_cases.py``. Each list is one class; the decision for every
value was written down before the guard was run on it:

* ``ANY``: refused as a single value among harmless ones, in an unknown column, in the ``site``
  label column and as a patient key (an identifier is an identifier wherever it appears);
* ``COLUMN``: refused when (at least half of) a column is such values (plain names: one of them
  among codes is not told apart from a place, ``docs/privacy.md``);
* ``KEYS``: refused as a patient key among sequential pseudonyms;
* ``ACCEPT_CODES`` / ``ACCEPT_LABELS`` / ``ACCEPT_KEY_COLUMNS`` / ``ACCEPT_TEXT``: legitimate
  clinical values that must pass (with the reason they are not identifying).

Characters that are hard to see are written as escapes: ``\\u200b`` zero-width space,
``\\u200d`` zero-width joiner, ``\\u202e`` right-to-left override, ``\\u00ad`` soft hyphen,
``\\ufeff`` byte-order mark, ``\\u00a0`` no-break space, ``\\u2011`` non-breaking hyphen.
"""

from __future__ import annotations

# ============================================================================== refused anywhere
ANY: dict[str, list[str]] = {
    # titles and honorifics not in the first corpus, in other languages and scripts
    "titled_names": [
        "Dra. Ana Silva", "Doña María", "Prof. Dr. med. Schulz", "Herrn Meier", "Mister Brown", "Madam Lee",
        "Hr. Hansen", "Fr. Jensen", "Mevrouw Bakker", "Ông Nguyễn Văn Ba", "Bà Trần Thị Mai", "Bapak Budi Santoso",
        "Ibu Siti Rahayu", "นาย สมชาย ใจดี", "นางสาว สมหญิง", "الدكتور أحمد حسن", "السيدة فاطمة", "ד\"ר כהן", "גב' לוי",
        "डॉ. राहुल शर्मा", "श्रीमती सीता देवी", "Κος Παπαδόπουλος", "Κυρία Ελένη", "Гражданка Смирнова",
        "Доктор Иванов", "田中様", "李女士", "박지성 님", "Sayın Ayşe Demir", "Dr. İsmail Öztürk", "Pani Żaneta",
        "Paní Nováková", "Sr.ª Costa", "Dr.ª Sousa", "Prof.ssa Bianchi", "Mme. Lefèbvre-Dupont", "MRS JONES",
        "Mrs. Smith-Jones", "Dr O'Neill", "Dr. Chen Wei", "Mr Al-Amin",
    ],
    # particles and surname forms not in the first corpus
    "particle_names": [
        "Vincent van Gogh", "Charles de Gaulle", "Ursula von der Leyen", "Ibn Battuta", "Abu Bakr al-Baghdadi",
        "Mohammed bin Salman", "Siti binti Aminah", "Ana de los Ángeles", "Diego de la Vega", "Luca di Montezemolo",
        "Maria do Carmo", "Eoin Mac Giolla", "Séamus Ó Briain", "Niamh Ní Bhriain", "D'Souza", "Fitzpatrick",
        "McAllister", "MacKenzie", "Al-Khalili", "O'Connor-Walsh",
    ],
    # "LAST, First", "LAST First" and initials
    "last_first": [
        "SMITH, John", "DUPONT, Jean-Pierre", "MÜLLER, Anna", "García López, María", "Nguyen, Van An",
        "Kowalska, Anna M.", "Smith, J.", "ИВАНОВ, Иван", "Smith-Jones, Mary Ann", "A.B. Smith",
    ],
    # national numbers not in the first corpus (formats, separators, labels)
    "national_ids": [
        "NHS 401-023-2137", "NHS no. 401 023 2137", "SIN 046 454 286", "NAS 046-454-286", "123 45 6789",
        "Steuer-IdNr. 65929970489", "IdNr 65 929 970 489", "BSN 1112.22.333", "burgerservicenummer 111222333",
        "personnummer 800303-1234", "19800303-1234", "800303+1234", "CPR 030380-1234", "030380-1234",
        "fødselsnummer 030380 12345", "PESEL: 80030312345", "Aadhaar: 2345-6789-0123", "2345 6789 0123",
        "CPF: 123.456.789-09", "11010519800303123X", "身份证 11010519800303123X", "マイナンバー 1234 5678 9012",
        "800303-1234567", "RRN 800303-1234567", "Medicare 2123 45670 1", "IHI 8003 6080 0001 2345",
        "DNI: 12.345.678-Z", "NIE X-1234567-L", "NIR 1 80 03 75 123 456 78", "n° sécu 180037512345678",
        "codice fiscale: RSSMRA80C03H501U", "RSSMRA80C03H501U", "BE 80.03.03-123.45", "80.03.03-123.45",
        "TC Kimlik No 12345678901", "Teudat Zehut 123456782", "ID 8003035009087", "AHV-Nr. 756.9217.0769.85",
        "SVNR 1234 030380", "hetu 030380-123A", "OHIP 1234-567-890-AB", "ITIN 912-70-1234",
    ],
    "ibans": [
        "GB82 WEST 1234 5698 7654 32", "DE89 3704 0044 0532 0130 00", "NL91ABNA0417164300",
        "FR14 2004 1010 0505 0001 3M02 606", "IBAN ES91 2100 0418 4502 0005 1332", "CH93 0076 2011 6238 5295 7",
    ],
    # record numbers and hospital numbers in running text or labelled in other words
    "record_numbers": [
        "NHC 00123456", "IPP: 123456", "Fallnr. 4711001", "n° dossier 123456", "Historia 123456", "HC 1234567",
        "MRN#0012345", "病歴番号 123456", "병록번호 123456", "номер карты 123456",
    ],
    # date spellings not in the first corpus
    "dates": [
        "3rd March 1980", "03/03/80", "1980-3-3", "March 3, 1980", "3.III.1980", "19800303", "1980-W10-1",
        "1980年3月3日", "٠٣/٠٣/١٩٨٠", "१९८०-०३-०३", "０３／０３／１９８０", "03MAR1980", "3-Mar-1980", "MAR 3 1980",
        "3 Mar '80", "the 3rd of March, 1980", "03/1980", "born 03/1980", "1980-03", "80.03.03", "Mar1980",
        "3 مارس 1980", "3 במרץ 1980", "3 मार्च 1980", "ngày 3 tháng 3 năm 1980", "3 Maret 1980",
        "3 martie 1980", "3 มีนาคม 2523", "Tuesday 3/3/80", "1980\u201103\u201103", "1980 03 03",
        "03.03.1980 14:30", "19800303T1430", "@1980-03-03", "DOB:030380", "3/3/1980", "1980/03/03",
    ],
    # e-mails: IDN, quoted local parts, plus-addressing, obfuscation
    "emails": [
        "\"john smith\"@example.com", "jo+foot@example.co.uk", "jo.doe@例え.jp", "ivan@почта.рус",
        "john dot smith at gmail dot com", "jsmith AT gmail DOT com", "jsmith at gmail.com", "jsmith @ gmail . com",
        "jsmith(at)gmail(dot)com", "jsmith [at] gmail [dot] com", "mailto jo@x.org", "ahmad@مثال.السعودية",
        "jo@localhost.localdomain", "JO@EXAMPLE.ORG", "jsmith@hospital", "j.smith@nhs.net>",
    ],
    # phones: E.164, extensions, tel: URIs, unicode dashes and spaces, other labels
    "phones": [
        "+14155552671", "+1 415 555 2671 ext 204", "tel:+1-415-555-2671;ext=204", "tel:+441632960961",
        "+44\u00a01632\u00a0960961", "+44 1632\u2013960\u2013961", "+44\u20111632\u2011960961", "(415) 555\u20102671",
        "Tlf. 12 34 56 78", "Tlf: +45 12 34 56 78", "тел. 8 (495) 123-45-67", "Τηλ. 210 123 4567",
        "電話 03-1234-5678", "전화 010-1234-5678", "هاتف 0501234567", "Puh. 040 123 4567", "fono 2 2345 6789",
        "Mobil: 0171 1234567", "cell 415.555.2671", "415-555-2671", "(415) 555-2671", "1-800-555-0199",
        "+61 4 1234 5678", "+353 87 123 4567", "+٩٧١ ٥٠ ١٢٣ ٤٥٦٧",
    ],
    # postcodes and street addresses not in the first corpus
    "addresses": [
        "10 Downing St, London SW1A 2AA", "London SW1A 2AA", "Toronto, ON M5V 3L9", "1012 AB Amsterdam",
        "123 Main St., Springfield, IL 62704", "Springfield, IL 62704", "PO Box 1234", "P.O. Box 42",
        "Postfach 12 34 56", "Apartment 5, 3 Elm Road", "Jl. Sudirman No. 5", "Jalan Ampang 12",
        "شارع الملك فهد 12", "רחוב הרצל 12", "ถนนสุขุมวิท 12", "12 đường Lê Lợi", "Unter den Linden 7",
        "Avenue des Champs-Élysées 10", "Plac Defilad 1", "Calle de Alcalá, 48",
    ],
    # online identifiers
    "online": [
        "192.168.1.20", "IP 10.0.0.254", "2001:db8::8a2e:370:7334", "fe80::1ff:fe23:4567:890a",
        "00:1A:2B:3C:4D:5E", "00-1a-2b-3c-4d-5e", "001A.2B3C.4D5E", "https://www.linkedin.com/in/john-smith",
        "facebook.com/jane.doe", "@jane_doe_1980", "twitter.com/janedoe", "ftp://files.example.org/jones.pdf",
        "example.co.uk/~jsmith",
    ],
    # free-text notes that mention a person
    "notes": [
        "seen by Dr Smith today", "wife Mary phoned, will bring him Tuesday", "pt's son John Smith came along",
        "GP: Dr Patel, Leeds", "referred by Prof. Nakamura", "lives with daughter Anna Schmidt",
        "Mr Jones fell again", "called Mrs Jones 07700 900123",
    ],
    # invisible and look-alike characters hiding any of the above
    "obfuscated": [
        "Mrs\u200b Jones", "M\u200brs Jones", "Mrs Jо\u200dnes", "\u041crs Jones", "Мrs Smith", "Dr\u00ad Müller",
        "\u202esenoJ srM", "\ufeffMrs Jones", "  Mrs Jones  ", "jo\u200b@example.org", "2024\u200b-03-15",
        "1\u200b9\u200b8\u200b0\u200b0\u200b3\u200b0\u200b3", "S\u0336m\u0336i\u0336t\u0336h, John",
        "Mrs Jo\u0301nes", "ｍｒｓ Ｊｏｎｅｓ", "N\u200bH\u200bS 943 476 5919", "+44\u200b7700\u200b900123",
        "Μrs Jones", "Dr Mu\u0308ller", "ЅМІТН, John",
    ],
    # a third round, written after the first fixes and decided before it was run (41 of 42 got through)
    "round3": [
        "Dr.Müller", "Mr.Smith", "Prof.Dr.Schulz", "J.R.R. Tolkien", "Tolkien J.R.R.", "محمد بن سلمان", "משה בן דוד",
        "ジョン・スミス", "jo@[192.168.1.1]", "jo%40example.org", "jo&#64;example.org", "jo&commat;example.org", "S55.3.3",
        "H5.3.3", "一九八〇年三月三日", "二〇二四年三月", "1EG4-TE5-MK73", "MORGA753116SM9IJ", "Carrera 7 # 32-16",
        "〒100-0001 東京都千代田区千代田1-1", "東京都千代田区千代田1-1", "서울특별시 강남구 테헤란로 123", "skype: john.smith",
        "jan.devries", "j.devries@", "dr. smith", "Dr. med. vet. Huber", "Capt. Hook", "Sgt. Pepper", "Lt Col Smith",
        "Nurse Ratched", "Imam Hassan", "Rabbi Cohen", "Pastor Jones", "Mgr. Dvořák", "JUDr. Svoboda", "MUDr. Novák",
        "dr hab. Kowalski", "mgr Nowak", "Nic an tSaoi", "ap Rhys", "Mac an tSaoir",
    ],
    # a fourth round, likewise (21 of 32 got through): titles after the name, labelled names, dates
    # without a year, passports' machine-readable zone, vehicles, devices, accounts, coordinates
    "round4": [
        "Frau Dr. Anna Schmidt", "Herr und Frau Meier", "M. et Mme Dupont", "Mr & Mrs Smith", "Smith (Mrs)", "Jones, Mrs",
        "Smith, Dr.", "Name: John Smith", "Patient: Jones", "Nom : Dupont", "氏名: 山田太郎", "이름: 김민수", "ФИО: Иванов И.И.",
        "3rd of March", "March 3rd", "le 3 mars", "P<GBRSMITH<<JOHN<<<<<<<<<<<<<<<<<<", "AB12 CDE", "reg AB12CDE",
        "SN: 4711-AB-0815", "S/N 12AB345", "IMEI 490154203237518", "Acct: AB-1234-5678", "51.5074, -0.1278",
        "51.50740,-0.12780", "51°30′26″N 0°7′39″W", "///filled.count.soap", "Iванов І.І.", "Иванов И.И.", "Ivanov I.I.",
        "Müller, A.", "A. Müller-Lüdenscheidt",
    ],
    # a fifth round, likewise (6 of 25 got through)
    "round5": [
        "O`Brien", "Ref: 123456", "Case 123456", "Fall 123456", "Sun Mar 3 00:00:00 1980", "3.3.1980г.", "☎ 030 1234567",
        "mob. 0171-1234567", "Tel.: 030/1234567", "john(dot)smith(at)example(dot)com", "1980/3/3(月)", "张女士", "김 선생님",
        "Señora Pérez", "Ms. O'Neil", "Dr Jekyll & Mr Hyde", "DOB: 3-Mar-80", "NHI ABC1234", "postmaster@[IPv6:2001:db8::1]",
        "jsmith@ex\u00adample.com", "ＭＲＮ １２３４５６７", "+1 (555) 0100 x 23", "5551234567 ext. 12",
        "José María de la Cruz y Sánchez", "Ahmed ibn Saud",
    ],
}
#: Column headers that say the column holds an identifier (refused by name), and headers of
#: legitimate columns that must pass.
HEADERS_REFUSED: list[str] = [
    "Emergency Contact", "Contact Person", "Guardian", "Carer Name", "Bank Account", "IBAN", "Credit Card", "Sort Code",
    "Vehicle Reg", "Licence Plate", "Kennzeichen", "IMEI", "Device Serial", "Skype", "Twitter", "Social Media",
    "Latitude", "Longitude", "GPS", "Coordinates", "NHS Number", "Geburtsort", "Place of Birth", "Lugar de nacimiento",
]
HEADERS_ACCEPTED: list[str] = [
    "SiteName", "Site Name", "HospitalName", "ClinicName", "AFO_type", "has_carer", "Carer", "Bank", "RegionCode", "Lat",
    "StudyNo", "Aetiology", "Ward", "Clinic", "TA_MRC_onset", "HbA1c_mmolmol", "DrugName", "ExerciseName", "contact_days",
    "Contact", "Handle_type", "Patient Identifier", "Pseudonym", "GP Practice",
]

# ====================================================================== refused as a whole column
COLUMN: dict[str, list[list[str]]] = {
    "plain_names": [
        ["Nakamura Hiroshi", "Tanaka Yuki", "Suzuki Ichiro", "Sato Aiko"],  # family-given order, romanised
        ["Nguyễn Thị Hoa", "Trần Văn Nam", "Lê Thị Lan", "Phạm Minh Tuấn"],  # Vietnamese
        ["Θεόδωρος Κολοκοτρώνης", "Ελένη Παππά", "Νίκος Γεωργίου"],  # Greek
        ["Ольга Смирнова", "Дмитрий Соколов", "Анна Кузнецова"],  # Cyrillic
        ["أحمد حسن", "فاطمة الزهراء", "خالد عبد الله"],  # Arabic
        ["משה כהן", "שרה לוי", "יוסף מזרחי"],  # Hebrew
        ["सीता देवी", "अमित कुमार", "प्रिया पटेल"],  # Devanagari
        ["สมชาย ใจดี", "สมหญิง รักไทย", "วิชัย ศรีสุข"],  # Thai
        ["李明", "张伟", "王芳", "刘洋"],  # Chinese, family name first
        ["田中 花子", "鈴木 一郎", "佐藤 愛"],  # Japanese
        ["박지성", "이영희", "최민준"],  # Korean
        ["İsmail Yıldız", "Işıl Çelik", "Ömer Şahin"],  # Turkish dotted / dotless i
        ["Mary-Jane Watson-Parker", "Anne-Marie Dupont-Moretti", "Hans-Peter Müller-Lüdenscheidt"],  # hyphenated
        ["JOHN SMITH", "MARY JONES", "AHMED KHAN"],  # upper case
        ["john smith", "mary jones", "ahmed khan"],  # lower case
        ["Smith J", "Jones M", "Khan A"],  # surname and initial
        ["J Smith", "M Jones", "A Khan"],  # initial and surname, no dot
    ],
}

# ============================================================================ refused as patient key
KEYS: list[str] = [
    "Jones01", "jsmith01", "SMITH-J-01", "Smith_John", "smith.j", "Müller3", "MarySmith", "Nakamura-001",
    "李明01", "K-Jones", "JS800303", "JS-03-03-80", "JS_030380", "800303-JS", "P-1980-03-03", "P19800303",
    "P800303-1234", "19800303A", "A-800303-1234", "1980-03-03", "03031980", "0042", "00042", "0000042",
    "RN-004711", "UR-0012345", "NHS-9434765919", "9434765919", "943 476 5919", "MRN:12345",
    "jo@example.org", "+447700900123", "SW1A 2AA", "192.168.1.20", "Mrs\u200bJones", "\u041crs Jones",
    "٠٠٠١٢٣٤", "０００１２３４", "P\u200b19800303", "P-03.03.80", "smith_j_1980",
]

# ==================================================================== legitimate: must not be refused
#: Clinical codes and values a site's extract really holds (free or code columns).
ACCEPT_CODES: list[str] = [
    "L4-L5", "L5-S1", "L5/S1", "MRC 4-", "MRC 4+", "4-", "3+", "AFO", "FES", "KAFO", "G57.3", "M54.16", "M21.37",
    "G57.30", "I63.9", "G35", "G12.21", "S84.1", "T84.0", "Z96.65", "E11.42",
    "A/E", "TKR L", "THR R", "CMT1A", "HNPP", "ALS/MND", "GBS", "CIDP", "post-op", "wk 6", "Week 12",
    "6 wk", "1-2x/day", "2x daily", "10 m walk", "0.8 m/s", "1.2", "-5", "15°", "-10 deg", "100%", "50-75%",
    "3/7", "2/52", "6/12", "4/5", "5/5", "0/5", "yes", "no", "unknown", "n/a", "–", "Grade III", "Stage 2",
    "Dorsiflexion", "Tibialis anterior", "Peroneal nerve", "EMG/NCS", "MRI L-spine", "CT", "HbA1c 48",
    "1980", "2024", "v2.1", "12:30", "45 min", "BMI 31.2", "L", "R", "B", "Bilateral", "Left", "Right",
    "Stroke", "Multiple sclerosis", "Motor neurone disease", "Charcot-Marie-Tooth", "Post hip replacement",
    "Guillain-Barré", "Leg length", "Ankle-foot orthosis", "Functional electrical stimulation",
    "Sciatic nerve injury", "Foot drop", "Heel walk", "Toe lift", "Mild", "Severe", "Moderate",
    "Muy grave", "Leicht", "Schwer", "légère", "sévère", "Grave", "女性", "男性", "脳卒中", "多発性硬化症",
    "инсульт", "αγγειακό", "سكتة دماغية", "שבץ", "लकवा", "Ictus cerebral", "AVC ischémique",
    "Nervus peroneus", "St. Gallen", "St Helens", "MS", "MS relapse", "Dr-visit", "Mr scan",
    "ICD-10 G57.3", "OPCS W37.1", "KL grade 3", "T2 hyperintensity", "C5-C6",
    "2.5 mg", "10 mg/kg", "1:1000", "pH 7.4", "A1", "B12", "Vit D 50", "NIHSS 4", "mRS 2",
    "FAC 3", "10MWT", "6MWT 320 m", "TUG 12 s", "BBS 45", "Box 3", "Room 12", "Bay 4", "Bed 12",
    # round 3: spinal levels with dots, sets x repetitions, abbreviations next to new titles
    "T12.1.2", "S1.2.3", "2 x 10 reps", "3 x 15", "Gen Surg", "BC Cancer Agency", "Doc Review", "Sister Ward 4",
    "Col Ca", "H5N1", "St.Gallen", "Mr scan", "hallux valgus", "v1.2.3",
    # round 4: decimals, angles and short codes next to the new rules
    "1.2345", "0.85, 1.10", "15°", "20° DF", "AB12", "reg 2", "SN", "Account", "Name", "Patient: Yes", "Name: n/a",
    "3 sets", "Serial casting", "serial 2", "Plate AFO",
    # round 5
    "Case 3", "Ref 12", "fall 2", "Fall risk", "file 4", "Case mix", "ref range 4-6",
]
#: SNOMED CT concept ids (partition 00 or 10 and a Verhoeff check digit) in a code column, as
#: text or numbers: codes of the site's coding system (a random 9-digit number is still refused).
ACCEPT_CONCEPT_CODES: list[str] = ["230690007", "24700007", "86044005", "22298006", "SNOMED 230690007", "SCTID: 24700007"]
NOT_CONCEPT_CODES: list[str] = ["230690008", "123456789", "7700900123", "SNOMED 230690008"]
#: Site labels (label column): institutions and codes.
ACCEPT_LABELS: list[str] = [
    "S01", "Site 4", "Clinic E", "St Thomas' Hospital", "Royal London Hospital", "Hôpital Saint-Louis",
    "Charité Campus Mitte", "Karolinska", "Rigshospitalet", "Hospital Clínic", "AZ Groeninge", "Policlinico Gemelli",
    "Universitätsspital Zürich", "Sheba Medical Center", "King Faisal Specialist Hospital", "東京大学病院",
    "서울대학교병원", "Tata Memorial Hospital", "Siriraj Hospital", "Bệnh viện Bạch Mai", "North", "South-East",
    "Leeds", "York", "Trust 3", "Unit 2", "Centre 07", "Ward 9B",
]
#: Columns of legitimate patient keys (each column must pass).
ACCEPT_KEY_COLUMNS: list[list[str]] = [
    [f"LEEDS-{i:03d}" for i in range(1, 40)] + [f"YORK-{i:03d}" for i in range(1, 40)],  # site name prefixes
    [f"SUBJECT_{i:04d}" for i in range(1, 200)],
    [f"FD{i:05d}" for i in range(1, 300)],
    [f"S{s:02d}P{i:03d}" for s in range(1, 5) for i in range(1, 60)],
    [f"{i:d}-A" for i in range(1, 80)],
    ["7f3a9c", "b2e4d1", "c9a0f8", "d41d8c", "e3b0c4"],  # short hashes
    [f"FD-2024-{i:04d}" for i in range(1, 120)],  # year and sequence
    [f"ID{i}" for i in range(1, 500)],
    [f"Pat{i:03d}" for i in range(1, 80)],  # one prefix for everyone
]
#: Report texts (titles, labels) that must pass check_text.
ACCEPT_TEXT: list[str] = [
    "Foot-drop outcomes: cohort 2019-2024", "Outcomes report, wave 3 (v2.1)", "Stroke and MS, L4-L5 radiculopathy",
    "Résultats du suivi à 12 mois", "Ergebnisse der Fußheberschwäche-Kohorte", "足下垂の転帰 2024年", "Informe anual 2024",
    "cause + severity + age + diabetes", "Outcomes team", "Week 12 follow-up", "Q3 2024 interim",
]

# ================================================================ decided "refuse", still passing
#: Values decided "refuse" above that the guard still lets through, each with the reason it was
#: not fixed (docs/privacy.md, "Remaining limitations"). The suite checks they still pass, so this
#: list and the documentation stay true; the other tests leave them out.
KNOWN_GAPS: dict[str, tuple[frozenset[str], str]] = {
    "Fitzpatrick": (frozenset({"free", "label", "text"}),
                    "one capitalised surname alone; also a clinical scale (Fitzpatrick skin type)"),
    "Unter den Linden 7": (frozenset({"free", "label", "key", "text"}), "a street named without a street word"),
    "1980-03": (frozenset({"key"}), "year and month as a key are also a study number (FD2024-10)"),
    "jan.devries": (frozenset({"free", "label", "text"}), "a user name without an @ reads like a dotted code"),
    "dr. smith": (frozenset({"free", "label", "text"}), "a title before a lower-case word reads like 'Dr visit'"),
    "Patient: Jones": (frozenset({"free", "label", "key", "text"}), "'Patient:' before a word also labels 'Patient: Yes'"),
}
#: Whole columns decided "refuse" that still pass, by kind, with the reason.
KNOWN_GAP_COLUMNS: dict[str, tuple[frozenset[str], str]] = {
    "john smith": (frozenset({"free", "label"}), "names in lower case read like lower-case phrases"),
}
