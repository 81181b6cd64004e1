"""The content patterns of the guard, in RE2 syntax (linear time, Unicode classes).

Every pattern here is run by ``pyarrow.compute`` (RE2: no backtracking, so the time is linear
in the length of the text, whatever the pattern) on arrays of distinct values. RE2 has no
look-around and no back-references; boundaries are written as ``(?:^|[^\\p{L}\\p{N}])``.

Patterns are grouped by the *class* of identifier they find, not by example: names are any
script's letters (``\\p{L}``), digits any script's decimal digits (``\\p{Nd}``), month names a
stem list over 15 languages. ``docs/privacy.md`` (section 1) describes each rule in words.
"""

from __future__ import annotations

# ------------------------------------------------------------------------------------------------
# building blocks

#: Start / end of a token: the text's edge or a character that is neither a letter nor a digit.
B0 = r"(?:^|[^\p{L}\p{N}])"
B1 = r"(?:$|[^\p{L}\p{N}])"
#: Digit boundaries (any script's digits).
D0 = r"(?:^|[^\p{Nd}])"
D1 = r"(?:$|[^\p{Nd}])"

DAY = r"(?:0?[1-9]|[12][0-9]|3[01])"
MONTH = r"(?:0?[1-9]|1[0-2])"
DAY2 = r"(?:0[1-9]|[12][0-9]|3[01])"
MONTH2 = r"(?:0[1-9]|1[0-2])"
YEAR4 = r"(?:1[89][0-9]{2}|20[0-9]{2})"
YEAR = r"(?:[0-9]{2}|1[89][0-9]{2}|20[0-9]{2})"
#: Date separators: hyphen and the Unicode dashes, slash, dot.
S = r"\s*[-‐‑‒–—―−/.]\s*"

#: Month names in English, French, German, Spanish, Italian, Dutch, Portuguese, Swedish, Danish,
#: Norwegian, Polish, Czech, Hungarian, Turkish, Finnish, Russian, Ukrainian and Greek (with
#: their grammatical forms), and their 3- and 4-letter abbreviations. Matched whole and
#: case-insensitively; only ever in a date shape (next to a day and / or a year).
_MONTH_WORDS = """
january february march april may june july august september october november december
janvier février fevrier mars avril mai juin juillet août aout septembre octobre novembre décembre decembre
januar jänner februar märz maerz april juni juli august oktober dezember
enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre diciembre
gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre
januari februari maart mei augustus
janeiro fevereiro março marco maio junho julho setembro outubro novembro dezembro
augusti maj marts desember
styczeń stycznia luty lutego marzec marca kwiecień kwietnia maja czerwiec czerwca lipiec lipca sierpień sierpnia
wrzesień września październik października listopad listopada grudzień grudnia
leden ledna únor února březen března duben dubna květen května červen června červenec července srpen srpna září
říjen října listopadu prosinec prosince
január február március április május június július augusztus szeptember október
ocak şubat mart nisan mayıs haziran temmuz ağustos eylül ekim kasım aralık
tammikuu tammikuuta helmikuu helmikuuta maaliskuu maaliskuuta huhtikuu huhtikuuta toukokuu toukokuuta kesäkuu
kesäkuuta heinäkuu heinäkuuta elokuu elokuuta syyskuu syyskuuta lokakuu lokakuuta marraskuu marraskuuta joulukuu
joulukuuta
январь января февраль февраля март марта апрель апреля май мая июнь июня июль июля август августа сентябрь сентября
октябрь октября ноябрь ноября декабрь декабря
січень січня лютий лютого березень березня квітень квітня травень травня червень червня липень липня серпень серпня
вересень вересня жовтень жовтня листопад листопада грудень грудня
ιανουάριος ιανουαρίου φεβρουάριος φεβρουαρίου μάρτιος μαρτίου απρίλιος απριλίου μάιος μαΐου ιούνιος ιουνίου
ιούλιος ιουλίου αύγουστος αυγούστου σεπτέμβριος σεπτεμβρίου οκτώβριος οκτωβρίου νοέμβριος νοεμβρίου δεκέμβριος
δεκεμβρίου
""".split()
_MONTH_ABBREVIATIONS = {w[:n] for w in _MONTH_WORDS for n in (3, 4)} | {"sept", "mrz", "mrt", "juil", "févr", "janv"}
_MONTH_ALTERNATIVES = "|".join(sorted(set(_MONTH_WORDS) | _MONTH_ABBREVIATIONS, key=lambda w: (-len(w), w)))
MONTH_NAME = rf"(?i:(?:{_MONTH_ALTERNATIVES})\.?)"
ROMAN_MONTH = r"(?i:i|ii|iii|iv|v|vi|vii|viii|ix|x|xi|xii)"
ORDINAL = r"(?i:st|nd|rd|th|er|e|re|º|°|\.)?"

# ------------------------------------------------------------------------------------------------
# calendar dates (found anywhere in a value, with token boundaries)

DATE_PATTERNS: tuple[str, ...] = (
    # ISO and year-first numeric: 2024-03-15, 1985/02/12, 2024.3.15, with or without a time
    rf"{D0}{YEAR4}{S}{MONTH}{S}{DAY}{D1}",
    # day-first or month-first numeric: 15/03/2024, 03-15-24, 15.3.24, 15 03 2024
    rf"{D0}(?:{DAY}{S}{MONTH}|{MONTH}{S}{DAY}){S}{YEAR}{D1}",
    rf"{D0}{DAY2} {MONTH2} {YEAR4}{D1}",
    # compact YYYYMMDD or DDMMYYYY inside a longer text (19xx / 20xx years)
    rf"{D0}{YEAR4}{MONTH2}{DAY2}{D1}",
    rf"{D0}{DAY2}{MONTH2}{YEAR4}{D1}",
    # month names: 15 March 2024, 15. März 2024, 15 de marzo de 2024, 15-Mar-24, 1er janvier 2024
    rf"{D0}{DAY}{ORDINAL}\s*(?:de\s+|of\s+)?[-/.\s]?\s*{MONTH_NAME}(?:\s+de|\s+del)?\s*[-/.,\s]\s*'?{YEAR}{D1}",
    rf"{D0}{DAY}{ORDINAL}\s*[-/.\s]\s*{MONTH_NAME}(?:$|[^\p{{L}}\p{{Nd}}])",  # 15 mars, 15. März (no year)
    # March 15, 2024; März 2024; Mar-2024
    rf"{B0}{MONTH_NAME}\s*[-/\s]\s*{DAY}{ORDINAL}\s*,?\s*{YEAR}{D1}",
    rf"{B0}{MONTH_NAME}(?:\s+de|\s+del)?\s*[-/,\s]\s*'?{YEAR4}{D1}",
    # year first with a month name: 2024. március 15, 2024 March 15
    rf"{D0}{YEAR4}\.?\s*[-/\s]?\s*{MONTH_NAME}\s*[-/\s]?\s*{DAY}{D1}",
    # Roman-numeral months: 15-III-2024, 15.XII.85
    rf"{D0}{DAY}\s*[-/.\s]\s*{ROMAN_MONTH}\s*[-/.\s]\s*{YEAR}{D1}",
    # ISO week dates: 2024-W11, 2024W113
    rf"{D0}{YEAR4}-?[Ww](?:0[1-9]|[1-4][0-9]|5[0-3])(?:-?[1-7])?{D1}",
    # East Asian: 2024年3月15日, 3月15日, 2024년 3월 15일, 令和6年3月15日
    r"\p{Nd}{1,4}\s*[年년]\s*\p{Nd}{1,2}\s*[月월]",
    r"\p{Nd}{1,2}\s*[月월]\s*\p{Nd}{1,2}\s*[日일]",
    # times of day with a date-like prefix are caught above; a bare ISO timestamp too
    rf"{D0}{YEAR4}-{MONTH2}-{DAY2}[Tt ]\p{{Nd}}{{2}}:\p{{Nd}}{{2}}",
)

# ------------------------------------------------------------------------------------------------
# contact details

EMAIL = (
    # local part @ domain . tld -- any script, full-width at sign, (at) / [at] spellings
    r"[^\s@＠]+\s*(?:[@＠]|\(at\)|\[at\]|\{at\}|\s+at\s+)\s*[^\s@＠]+\s*(?:\.|\(dot\)|\[dot\]|\s+dot\s+)\s*[^\s@＠.]{2,}"
)
WEB = r"(?i:https?://|www\.|xn--|mailto:|(?:^|[\s(])[\p{L}\p{N}-]+\.(?:com|org|net|de|fr|uk|nl|es|it|ch|at|be|se|dk|no|fi|pl|ru|cn|jp|in|br|au)(?:$|[\s/)]))"
#: Phone: optional label or ``tel:`` scheme, optional + or 00, digits with separators, optional
#: extension. The digit count (9 to 15, extension excluded) is checked separately.
PHONE = (
    r"(?i)^\s*(?:(?:tel(?:ephone|efon|efono|éfono|éphone)?|phone|ph|mob(?:ile)?|cell|fax|handy|m[oó]vil|celular"
    r"|t|m|f|☎|📞)\s*[.:]?\s*(?://)?\s*)?"
    r"(?:\+|00)?\s*[\p{Nd}(][\p{Nd}\s().\-/]{6,}\p{Nd}"
    r"\s*(?:(?:ext\.?|extension|x|#|poste|durchwahl|dw|interno|int\.?|;ext=)\s*\p{Nd}{1,6})?\s*$"
)
PHONE_LABELLED = (
    # a phone label or tel: URI anywhere, then at least 6 digits
    r"(?i)(?:^|[^\p{L}])(?:tel|phone|mobile|mob|fax|handy|cell)\s*[.:]?\s*(?://)?\s*\+?[\p{Nd}(][\p{Nd}\s().\-/]{5,}\p{Nd}"
)
PHONE_EXTENSION = r"(?i)\p{Nd}[\p{Nd}\s().\-/]{5,}\p{Nd}\s*(?:ext\.?|extension|x|#)\s*\p{Nd}{1,6}\s*$"

# ------------------------------------------------------------------------------------------------
# national and record numbers

#: Labels of national ID, insurance and record numbers, in many countries' own words.
_ID_LABELS = (
    "nhs|chi|hcn|ssn|nino|nin|bsn|sofi|pesel|cpr|hetu|henkil[oö]tunnus|personnummer|pnr|personnr|f[oø]dselsnummer"
    "|codice\\s*fiscale|dni|nie|nif|nir|insee|s[eé]cu(?:rit[eé]\\s*sociale)?|steuer[-\\s]?id|idnr|tfn|medicare"
    "|medicaid|aadhaar|aadhar|uidai|cpf|cnpj|rrn|curp|nric|hkid|mykad|egn|oib|jmbg|emšo|amka|kvnr"
    "|versichertennummer|svnr|sv-?nr|ahv|avs|rodn[eé]\\s*[cč][ií]slo|isikukood|asmens\\s*kodas|personas\\s*kods"
    "|passport|passeport|reisepass|pasaporte|passaporto|licen[cs]e|id\\s*card|national\\s*id|citizen\\s*id"
    "|mrn|urn|hosp(?:ital)?\\s*(?:no|nr|num(?:ber)?)?|emr|ehr|record|chart|case\\s*no|patient\\s*no|pt\\s*no"
    "|n[uú]mero|nummer|numéro|numero|social\\s*security|soc\\s*sec|sozialversicherungsnummer|n[°º]"
)
ID_LABELLED = (
    rf"(?i)(?:^|[^\p{{L}}])(?:{_ID_LABELS})\s*(?:no|nr|num(?:ber)?|n[°º]|#)?\.?\s*[:#=\-]?\s*[A-Za-z]{{0,3}}[-\s]?\p{{Nd}}[\p{{Nd}}\s./\-]{{2,}}\p{{Nd}}"
)
NATIONAL_ID_FORMATS: tuple[str, ...] = (
    r"(?i)(?:^|[^\p{L}])(?:ur|hn|rn|mr|pas|pid|nhc|ipp|nhi)\s*[.:#_\-/]?\s*\p{Nd}{5,}",  # short record labels
    r"(?:^|[^\p{Nd}])\p{Nd}{3}-\p{Nd}{2}-\p{Nd}{4}(?:$|[^\p{Nd}])",  # US SSN 123-45-6789
    r"(?i)(?:^|[^\p{L}])[A-Z]{2}\s?\p{Nd}{2}\s?\p{Nd}{2}\s?\p{Nd}{2}\s?[A-D](?:$|[^\p{L}])",  # UK NINO
    # Nordic: DDMMYY-NNNN (Danish CPR, Norwegian), DDMMYY[-+A]NNNC (Finnish HETU), (YY)YYMMDD-NNNN (Swedish)
    rf"{D0}{DAY2}{MONTH2}[0-9]{{2}}\s?[-+A-FU-Ya-fu-y]?\s?\p{{Nd}}{{3}}[0-9A-Ya-y]{B1}",
    rf"{D0}(?:19|20)?[0-9]{{2}}{MONTH2}{DAY2}\s?[-+]\s?\p{{Nd}}{{4}}{D1}",
    rf"{D0}[0-9]{{2}}{MONTH2}{DAY2}\s?-\s?[1-8]\p{{Nd}}{{6}}{D1}",  # Korean RRN YYMMDD-NNNNNNN
    r"(?i)(?:^|[^\p{L}\p{N}])\p{Nd}{6}(?:19|20)\p{Nd}{2}(?:0[1-9]|1[0-2])\p{Nd}{5}[\p{Nd}x](?:$|[^\p{L}\p{N}])",  # China
    # Italian codice fiscale (omocodia letters allowed)
    r"(?i)(?:^|[^\p{L}\p{N}])[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z](?:$|[^\p{L}\p{N}])",
    r"(?i)(?:^|[^\p{L}\p{N}])(?:[XYZ]\p{Nd}{7}|\p{Nd}{8})\s?-?\s?[A-Z](?:$|[^\p{L}\p{N}])",  # Spanish DNI / NIE
    r"(?:^|[^\p{Nd}])[12]\s?\p{Nd}{2}\s?(?:0[1-9]|1[0-2]|[2-9]\p{Nd})\s?(?:\p{Nd}{2}|2[ABab])\s?\p{Nd}{3}\s?\p{Nd}{3}(?:\s?\p{Nd}{2})?(?:$|[^\p{Nd}])",  # French NIR
    r"(?:^|[^\p{Nd}])\p{Nd}{3}\.\p{Nd}{3}\.\p{Nd}{3}-?\p{Nd}{2}(?:$|[^\p{Nd}])",  # Brazilian CPF
    r"(?:^|[^\p{Nd}])\p{Nd}{2}\.?\p{Nd}{3}\.?\p{Nd}{3}/\p{Nd}{4}-?\p{Nd}{2}(?:$|[^\p{Nd}])",  # Brazilian CNPJ
    r"(?:^|[^\p{Nd}])\p{Nd}{4}\s\p{Nd}{4}\s\p{Nd}{4}(?:$|[^\p{Nd}])",  # Aadhaar
    r"(?:^|[^\p{Nd}])\p{Nd}{3}\s\p{Nd}{3}\s\p{Nd}{4}(?:$|[^\p{Nd}])",  # NHS / CHI 943 476 5919
    r"(?i)(?:^|[^\p{L}\p{N}])[STFGM]\p{Nd}{7}[A-Z](?:$|[^\p{L}\p{N}])",  # Singapore NRIC / FIN
    r"(?i)(?:^|[^\p{L}\p{N}])[A-Z]{1,2}\p{Nd}{6}\s?\([0-9A]\)",  # Hong Kong ID A123456(7)
    r"(?i)(?:^|[^\p{L}\p{N}])[A-Z]{4}\p{Nd}{6}[HM][A-Z]{5}[A-Z0-9]\p{Nd}(?:$|[^\p{L}\p{N}])",  # Mexican CURP
)
#: Seven or more digits in a row (record numbers, national numbers, YYYYMMDD, phone numbers).
LONG_DIGITS = r"\p{Nd}{7,}"
#: Nine or more digits in a row (used for patient keys, where seven-digit pseudonyms are normal).
VERY_LONG_DIGITS = r"\p{Nd}{9,}"
#: Text that is only digits, with a leading zero: a record number kept as text ("0001234").
ZERO_PADDED = r"^\s*0\p{Nd}{3,}\s*$"

# ------------------------------------------------------------------------------------------------
# addresses and postcodes

_STREET_WORDS = (
    "street|st|road|rd|avenue|ave|av|lane|ln|drive|dr|close|way|boulevard|blvd|court|ct|place|pl|terrace|crescent|gardens"
    "|square|sq|row|mews|hill|parade|stra(?:ss|ß)e|str|gasse|weg|allee|platz|ring|damm|rue|all[eé]e|chemin|impasse|quai"
    "|via|viale|piazza|corso|vicolo|calle|avenida|avda|plaza|paseo|camino|carrer|rua|travessa|largo|pra[cç]a|straat|laan"
    "|gracht|plein|kade|dijk|gatan|gata|v[aä]gen|vej|gade|katu|tie|ulica|ul|aleja|al|utca|út|sokak|sok|cadde|caddesi"
)
STREET = (
    rf"(?i)(?:^|[^\p{{L}}\p{{N}}])\p{{Nd}}+\s?[a-z]?,?\s+(?:[\p{{L}}'’.\-]+\s+){{0,4}}(?:{_STREET_WORDS})\.?(?:$|[^\p{{L}}])"
    rf"|(?i)\p{{L}}+(?:stra(?:ss|ß)e|str\.|gasse|weg|straat|laan|gatan|v[aä]gen|vej|gade|katu|utca)\s+\p{{Nd}}+\s?[a-z]?(?:$|[^\p{{L}}\p{{N}}])"
    rf"|(?i)(?:^|[^\p{{L}}])(?:{_STREET_WORDS})\.?\s+(?:[\p{{L}}'’.\-]+\s+){{0,3}}\p{{Nd}}+[a-z]?(?:$|[^\p{{L}}\p{{N}}])"
    r"|(?i)(?:^|[^\p{L}])(?:flat|apt|apartment|suite|unit|wohnung|piso|appartement)\s*\.?\s*\p{Nd}"
    r"|\p{Nd}+\s*(?:丁目|番地|号|번지|동|호)|(?:路|街|道|ул\.|улица|пр-т|проспект|д\.)\s*\p{Nd}"
)
#: The street-address rule as separate patterns (RE2 runs small patterns faster than one alternation).
STREET_PATTERNS: tuple[str, ...] = tuple(("(?i)" + p) if i else p for i, p in enumerate(STREET.split("|(?i)")))

POSTCODE = (
    r"(?i)^\s*(?:"
    r"[A-Z]{1,2}\p{Nd}[A-Z\p{Nd}]?\s*\p{Nd}[A-Z]{2}"  # UK
    r"|\p{Nd}{5}-\p{Nd}{4}"  # US ZIP+4
    r"|[A-Z]\p{Nd}[A-Z]\s?\p{Nd}[A-Z]\p{Nd}"  # Canada
    r"|\p{Nd}{4}\s?[A-Z]{2}"  # Netherlands
    r"|\p{Nd}{2}-\p{Nd}{3}"  # Poland
    r"|\p{Nd}{3}\s\p{Nd}{2}"  # Sweden, Czechia, Greece
    r"|〒?\s*\p{Nd}{3}-\p{Nd}{4}"  # Japan
    r"|\p{Nd}{5}-\p{Nd}{3}"  # Brazil
    r")\s*$"
    r"|^\s*(?:[A-Z]{1,2}-)?\p{Nd}{4,5}\s+\p{Lu}\p{L}+"  # postcode and town: 10115 Berlin, 75008 Paris
)

# ------------------------------------------------------------------------------------------------
# personal names

_TITLES = (
    "mr|mrs|ms|miss|mx|dr|prof|sir|dame|lady|lord|rev|revd|hon|frau|herr|fr|hr|fräulein|frl|mme|mlle|mmes|mons|monsieur"
    "|madame|mademoiselle|sr|sra|srta|se[nñ]or|se[nñ]ora|se[nñ]orita|d[oñ]a|dña|don|sig|sig\\.ra|sig\\.na|sigra|signor|signora"
    "|signorina|dott|dott\\.ssa|dottssa|mevr|mevrouw|dhr|heer|mw|pan|pani|fru|herra|rouva|sn|bay|bayan|sayın|shri|sri|smt"
    "|srimati|kumari|sheikh|sheikha|hajji?|г-н|г-жа|господин|госпожа|гражданин|κ|κα|κος|κυρία|κύριος|السيد|السيدة"
    "|الأستاذ|הגברת|מר|श्री|श्रीमती"
)
TITLE_NAME = (
    # a title, then a capitalised word (any script) or a word of an uncased script
    rf"(?:^|[^\p{{L}}])(?i:{_TITLES})\.?\s+(?:(?i:van|de|von|der|den|la|le|da|di|du|del|dos|das|ter|ten)\s+)*(?:\p{{Lu}}|\p{{Lo}})"
    # "M." (French) only at the start of a value
    r"|^\s*M\.\s*\p{Lu}\p{Ll}"
    # honorific suffixes of East Asian names: 山田さん, 王先生, 김민수 씨
    r"|\p{Lo}\s?(?:さん|様|さま|先生|女士|小姐|君|くん|ちゃん|씨|님|선생님)(?:$|[^\p{L}])"
)
_PARTICLES = (
    "van|van der|van den|van de|vd|von|von der|von und zu|zu|de|de la|de las|de los|del|della|delle|degli|di|da|das|dos"
    "|du|des|le|la|lo|ter|ten|bin|binti|bint|ibn|ben|bat|abu|umm|ap|y|e|af|av|op|te|zur|dal|dei|vom|ver"
)
PARTICLE_NAME = (
    rf"^\s*\p{{Lu}}[\p{{L}}'’\-]+(?:\s+\p{{Lu}}[\p{{L}}'’\-]+)?\s+(?:(?i:{_PARTICLES})\s+|(?i:d|dell|l)['’])\p{{Lu}}?[\p{{L}}'’\-]+"
    r"(?:\s+\p{Lu}[\p{L}'’\-]+)?\s*$"
    # a value that starts with a particle: "van der Berg, Anna", "de la Cruz"
    rf"|^\s*(?:van|van der|van den|von|von der|de|de la|de las|de los|del|della|di|da|dos|das|du|le|la|ter|ten|bin|ibn|al|el)\s+\p{{Lu}}\p{{Ll}}+"
    # prefixed surnames: al-Rashid, el-Amin, O'Brien, D'Angelo, McDonald, MacLeod, FitzGerald
    r"|(?:^|[^\p{L}])(?:[Aa]l|[Ee]l|[Aa]bd)-\p{L}{2,}"
    r"|(?:^|[^\p{L}])[OD]['’]\p{Lu}\p{Ll}+"
    r"|(?:^|[^\p{L}])(?:Mc|Mac|Fitz)\p{Lu}\p{Ll}+"
)
#: Shapes of simple keys and codes ("P0000001", "FD-0001", "S01", "17"): only the rules in
#: ``_rules.PLAIN`` can match them, so the others are not run on them.
PLAIN = r"^(?:[A-Za-z]{1,4}[-_]?[0-9]{1,8}|[0-9]{1,8})$"

#: "Surname, Given" in any cased script.
COMMA_NAME = (
    r"^\s*\p{Lu}[\p{Ll}'’\-]+(?:\s+\p{Lu}[\p{Ll}'’\-]+)?,\s*\p{Lu}[\p{Ll}'’\-]+(?:\s+\p{Lu}\.?|\s+\p{Lu}[\p{Ll}'’\-]+)?\s*$"
    r"|^\s*\p{Lu}\.\s*(?:\p{Lu}\.\s*)?\p{Lu}\p{Ll}[\p{Ll}'’\-]+\s*$"  # J. Smith, J.R. Smith
)
#: Two or three capitalised words (any cased script), optionally with a middle initial.
_WORD = r"\p{Lu}[\p{Ll}\p{M}'’]+(?:-\p{Lu}?[\p{Ll}\p{M}'’]+)*"
CAPITALISED_NAME = rf"^\s*{_WORD}(?:\s+\p{{Lu}}\.?)?(?:\s+{_WORD}){{1,2}}\s*$"
#: One to four words of a script without letter case (CJK, Arabic, Hebrew, Indic, Thai, ...).
UNCASED_NAME = r"^\s*[\p{Lo}\p{M}]{2,12}(?:[\s·・‧•\-][\p{Lo}\p{M}]{1,12}){0,3}\s*$"
#: Words that name an institution: a value holding one is not read as a person's name.
INSTITUTION = (
    r"(?i)hospital|h[oô]pital|clinic|cl[ií]nica|klinik|kliniek|clinique|centre|center|centro|zentrum|ospedale|policlinic"
    r"|poliklinik|universit|infirmary|krankenhaus|ziekenhuis|sjukhus|sykehus|sygehus|sairaala|szpital|nemocnice"
    r"|k[oó]rh[aá]z|hastane|medical|health|trust|practice|surgery|praxis|unit|ward|department|dept|site|institut"
    r"|больниц|клиник|госпитал|νοσοκομε|κλινικ|医院|病院|クリニック|병원|의원|مستشفى|בית חולים|अस्पताल"
)

# ------------------------------------------------------------------------------------------------
# patient keys (used only for key columns)

#: A key made of letters only (any script), with spaces, apostrophes, dots or hyphens: a name.
KEY_LETTERS_ONLY = r"^[\s'’.\-]*[\p{L}\p{M}]{2,}[\p{L}\p{M}\s'’.\-]*$"
#: A record label in front of a number: MRN-00012345, UR123456, HN 4711, NHS9434765919.
KEY_RECORD_LABEL = (
    r"(?i)^\s*(?:mrn|mr|urn|ur|umrn|hn|hosp|hospno|rn|pas|emr|ehr|nhs|chi|hcn|rec|record|chart|kvnr|pid|nip|ipp|nhc|nhi"
    r"|aktenzeichen|az|fallnr|fall)\s*[.:#_\-/]*\s*\p{Nd}{3,}"
)
#: Two or three letters (initials) next to six digits that read as a date (DDMMYY or MMDDYY).
KEY_INITIALS_DATE = (
    rf"^\s*\p{{L}}{{2,3}}\s*[-_./\s]?\s*(?:{DAY2}{MONTH2}|{MONTH2}{DAY2})[0-9]{{2}}\s*$"
    rf"|^\s*(?:{DAY2}{MONTH2}|{MONTH2}{DAY2})[0-9]{{2}}\s*[-_./\s]?\s*\p{{L}}{{2,3}}\s*$"
)
