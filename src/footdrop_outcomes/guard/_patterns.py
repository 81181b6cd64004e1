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
ianuarie februarie martie aprilie iunie iulie septembrie octombrie noiembrie decembrie
siječanj siječnja veljača veljače ožujak ožujka travanj travnja svibanj svibnja lipanj lipnja srpanj srpnja
kolovoz kolovoza rujan rujna studeni studenoga prosinac prosinca
januari februari maret agustus oktober desember mac ogos disember
يناير فبراير مارس أبريل إبريل ابريل مايو يونيو يونيه يوليو يوليه أغسطس اغسطس سبتمبر أكتوبر اكتوبر نوفمبر ديسمبر
كانون شباط آذار اذار نيسان أيار ايار حزيران تموز آب أيلول ايلول تشرين
ינואר פברואר מרץ מרס אפריל מאי יוני יולי אוגוסט ספטמבר אוקטובר נובמבר דצמבר
जनवरी फ़रवरी फरवरी मार्च अप्रैल मई जून जुलाई अगस्त सितंबर सितम्बर अक्टूबर अक्तूबर नवंबर नवम्बर दिसंबर दिसम्बर
มกราคม กุมภาพันธ์ มีนาคม เมษายน พฤษภาคม มิถุนายน กรกฎาคม สิงหาคม กันยายน ตุลาคม พฤศจิกายน ธันวาคม
""".split()
#: Hebrew months also take the prefix "ב" ("in"): "3 במרץ 1980".
_MONTH_WORDS += ["ב" + w for w in "ינואר פברואר מרץ מרס אפריל מאי יוני יולי אוגוסט ספטמבר אוקטובר נובמבר דצמבר".split()]
_MONTH_ABBREVIATIONS = {w[:n] for w in _MONTH_WORDS for n in (3, 4)} | {"sept", "mrz", "mrt", "juil", "févr", "janv"}
_MONTH_ALTERNATIVES = "|".join(sorted(set(_MONTH_WORDS) | _MONTH_ABBREVIATIONS, key=lambda w: (-len(w), w)))
MONTH_NAME = rf"(?i:(?:{_MONTH_ALTERNATIVES})\.?)"
ROMAN_MONTH = r"(?i:i|ii|iii|iv|v|vi|vii|viii|ix|x|xi|xii)"
ORDINAL = r"(?i:st|nd|rd|th|er|e|re|º|°|\.)?"

# ------------------------------------------------------------------------------------------------
# calendar dates (found anywhere in a value, with token boundaries)

#: Month names written without separators: 03MAR1980 (SAS, Oracle), Mar1980, 3March80.
DATE_MONTH_COMPACT: tuple[str, ...] = (
    rf"{D0}{DAY}{MONTH_NAME}'?{YEAR}{D1}",
    rf"{B0}{MONTH_NAME}'?{YEAR4}{D1}",
)
#: A birth label before digits: DOB:030380, born 030380, geb. 03031980, né le 030380.
DATE_BIRTH_LABEL = (
    r"(?i)(?:^|[^\p{L}])(?:dob|d\.o\.b\.?|born|birth|b-?day|geb\.?|geboren|n[ée]e?|nacid[oa]|nat[oa]|f[øo]dt|född|urodzony|urodzona)\s*(?:le|am|el|on)?\s*[:.\-]?\s*\p{Nd}{6,8}(?:$|[^\p{Nd}])"
)

#: Year and month, year first: 1980-03 (not for patient keys, where FD2024-10 is a study number).
DATE_YEAR_MONTH = rf"{D0}{YEAR4}[-/.]{MONTH2}{D1}"

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
    # 15 mars, 3rd of March (no year; not "12 de Octubre", a hospital's name)
    rf"{D0}{DAY}{ORDINAL}\s*(?:of\s+)?[-/.\s]?\s*{MONTH_NAME}(?:$|[^\p{{L}}\p{{Nd}}])",
    rf"{B0}{MONTH_NAME}\s+{DAY}(?i:st|nd|rd|th){B1}",  # March 3rd (no year)
    # March 15, 2024; März 2024; Mar-2024
    rf"{B0}{MONTH_NAME}\s*[-/\s]\s*{DAY}{ORDINAL}\s*,?\s*{YEAR}{D1}",
    rf"{B0}{MONTH_NAME}(?:\s+de|\s+del)?\s*[-/,\s]\s*'?{YEAR4}{D1}",
    # year first with a month name: 2024. március 15, 2024 March 15
    rf"{D0}{YEAR4}\.?\s*[-/\s]?\s*{MONTH_NAME}\s*[-/\s]?\s*{DAY}{D1}",
    # Roman-numeral months: 15-III-2024, 15.XII.85; with spaces only in capitals and a four-digit
    # year (15 III 2024), so that "2 x 10" (sets and repetitions) is not a date
    rf"{D0}{DAY}\s*[-/.]\s*{ROMAN_MONTH}\s*[-/.]\s*{YEAR}{D1}",
    rf"{D0}{DAY}\s+(?:I|II|III|IV|V|VI|VII|VIII|IX|X|XI|XII)\s+{YEAR4}{D1}",
    # ISO week dates: 2024-W11, 2024W113
    rf"{D0}{YEAR4}-?[Ww](?:0[1-9]|[1-4][0-9]|5[0-3])(?:-?[1-7])?{D1}",
    # East Asian: 2024年3月15日, 3月15日, 2024년 3월 15일, 令和6年3月15日
    r"\p{Nd}{1,4}\s*[年년]\s*\p{Nd}{1,2}\s*[月월]",
    r"\p{Nd}{1,2}\s*[月월]\s*\p{Nd}{1,2}\s*[日일]",
    # times of day with a date-like prefix are caught above; a bare ISO timestamp too
    rf"{D0}{YEAR4}-{MONTH2}-{DAY2}[Tt ]\p{{Nd}}{{2}}:\p{{Nd}}{{2}}",
    # year first with two-digit years and spaces: 80.03.03, 80-03-03, 1980 03 03
    rf"{D0}[0-9]{{2}}[-/.]{MONTH2}[-/.]{DAY2}{D1}",
    rf"{D0}{YEAR4} {MONTH2} {DAY2}{D1}",
    # a month and a year (a month of birth is identifying): 03/1980, 1980-03 (two-digit months only)
    rf"{D0}(?:{MONTH2}[/.]|0[1-9]-){YEAR4}{D1}",
    *DATE_MONTH_COMPACT,
    # Vietnamese: ngày 3 tháng 3 năm 1980, tháng 3 năm 1980, ngày 3 tháng 3
    r"(?i)(?:ngày|ngay)\s*\p{Nd}{1,2}\s*(?:tháng|thang)\s*\p{Nd}{1,2}|(?:tháng|thang)\s*\p{Nd}{1,2}\s*,?\s*(?:năm|nam)\s*\p{Nd}{4}",
    DATE_BIRTH_LABEL,
    # Japanese era abbreviations: S55.3.3, H5.3.3, R6/3/15 (Meiji, Taisho, Showa, Heisei, Reiwa)
    # (not T or S1-S5, which are spinal levels: T12.1.2, S1.2.3)
    rf"(?:^|[^\p{{L}}\p{{N}}])(?:[MHR]\s?[0-9]{{1,2}}|S\s?(?:[6-9]|[1-6][0-9]))[./-]{MONTH}[./-]{DAY}{D1}",
    # Chinese numerals: 一九八〇年三月三日, 二〇二四年三月
    r"[〇零○一二三四五六七八九十]{1,4}\s*年\s*[〇零一二三四五六七八九十]{1,3}\s*月",
)

# ------------------------------------------------------------------------------------------------
# contact details

EMAIL = (
    # local part @ domain . tld -- any script, full-width at sign, (at) / [at] spellings, any case
    r"(?i)[^\s@＠]+\s*(?:[@＠]|%40|&#0*64;|&#x0*40;|&commat;|\(at\)|\[at\]|\{at\}|\s+at\s+)\s*[^\s@＠]+\s*"
    r"(?:\.|%2e|&#0*46;|\(dot\)|\[dot\]|\s+dot\s+)\s*[^\s@＠.]{2,}"
)
#: ``user@host`` without a dot (an internal mail host) and ``@handle`` (a social-media name).
EMAIL_HOST = r"[\p{L}\p{N}._%+\-]*\p{L}[\p{L}\p{N}._%+\-]*@(?:\p{L}[\p{L}\p{N}\-]+|\[|$|\s)"
HANDLE = r"(?:^|\s)@[\p{L}\p{N}_.]*[\p{L}_][\p{L}\p{N}_.]{2,}"
WEB = (r"(?i:[a-z][a-z0-9+.\-]*://|www\.|xn--|mailto:|(?:^|[\s(])(?:[\p{L}\p{N}-]+\.)+(?:com|org|net|edu|gov|info|biz|io|me|co|ac"
       r"|de|fr|uk|nl|es|it|ch|at|be|se|dk|no|fi|pl|ru|cn|jp|in|br|au|ca|us|nz|ie|pt|gr|tr|kr|tw|hk|sg|za|mx|ar|cl|cz|hu|ro"
       r"|рф|рус)(?:$|[\s/)?#:]))")
#: IP addresses (v4 with octets up to 255; v6 with ``::`` or eight groups) and MAC addresses.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
ONLINE_IDS: tuple[str, ...] = (
    rf"(?:^|[^\p{{N}}.])(?:{_OCTET}\.){{3}}{_OCTET}(?:$|[^\p{{N}}.])",
    r"(?i)(?:^|[^\p{L}\p{N}:])[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?(?:$|[^\p{L}\p{N}:])",
    r"(?i)(?:^|[^\p{L}\p{N}:])[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){7}(?:$|[^\p{L}\p{N}:])",
    r"(?i)(?:^|[^\p{L}\p{N}])[0-9a-f]{2}(?:[:\-][0-9a-f]{2}){5}(?:$|[^\p{L}\p{N}])",
    r"(?i)(?:^|[^\p{L}\p{N}])[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}(?:$|[^\p{L}\p{N}])",
    EMAIL_HOST,
    HANDLE,
    # geographic coordinates: 51.5074, -0.1278; 51°30′26″N; what3words ///filled.count.soap
    r"(?:^|[^\p{N}.])-?[0-9]{1,2}\.[0-9]{4,}\s*[,;/ ]\s*-?[0-9]{1,3}\.[0-9]{4,}(?:$|[^\p{N}])",
    r"(?i)[0-9]{1,3}\s*°\s*[0-9]{1,2}\s*['′’]\s*(?:[0-9]{1,2}(?:[.,][0-9]+)?\s*(?:\"|″|′′|''|’’)\s*)?[NSEWO]",
    r"///\p{L}+\.\p{L}+\.\p{L}+",
    # a messenger or social-media label before an account name
    (r"(?i)(?:^|[^\p{L}])(?:skype|whatsapp|telegram|signal|wechat|weixin|line\s*id|viber|icq|msn|twitter|instagram|insta"
     r"|facebook|fb|tiktok|snapchat|linkedin|github|discord|kakaotalk|kakao)\s*(?:id|handle|name)?\s*[:=]\s*@?[\p{L}\p{N}._\-]{3,}"),
)
#: Phone: optional label or ``tel:`` scheme, optional + or 00, digits with separators, optional
#: extension. The digit count (9 to 15, extension excluded) is checked separately.
PHONE = (
    r"(?i)^\s*(?:(?:tel(?:ephone|efon|efono|éfono|éphone)?|phone|ph|mob(?:ile|il)?|cell|fax|handy|m[oó]vil|celular"
    r"|t|m|f|☎|📞|tlf|tlph|telf|puh(?:elin)?|fono|cel|тел(?:ефон)?|τηλ|電話|전화|هاتف|جوال|טלפון|טל)\s*[.:]?\s*(?://)?\s*)?"
    r"(?:\+|00)?\s*[\p{Nd}(][\p{Nd}\s().\-/]{6,}\p{Nd}"
    r"\s*(?:(?:ext\.?|extension|x|#|poste|durchwahl|dw|interno|int\.?|;ext=)\s*\p{Nd}{1,6})?\s*$"
)
PHONE_LABELLED = (
    # a phone label or tel: URI anywhere, then at least 6 digits
    r"(?i)(?:^|[^\p{L}])(?:tel|phone|mobile|mobil|mob|fax|handy|cell|cel|tlf|tlph|telf|puh|puhelin|fono|тел|телефон|τηλ"
    r"|電話|전화|هاتف|جوال|טלפון|טל)\.?\s*[.:]?\s*(?://)?\s*\+?[\p{Nd}(][\p{Nd}\s().\-/]{5,}\p{Nd}"
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
    "|ohip|ramq|tc\\s*kimlik|kimlik|teudat\\s*zehut|burgerservicenummer|idnr|id-?nr"
    "|identifikationsnummer|my\\s*number|マイナンバー|個人番号|身份证(?:号码?)?|身分證|주민등록번호|주민번호|снилс|паспорт|полис"
    "|dossier|historia(?:\\s*cl[ií]nica)?|nhc|cartella(?:\\s*clinica)?|病歴番号|カルテ(?:番号)?|患者(?:番号|id)|病案号|病历号|住院号"
    "|병록번호|등록번호|환자번호|номер(?:\\s*(?:карты|истории|полиса|паспорта))?|карт[аы]|история\\s*болезни"
)
#: Short labels that are also words or measures ("sin" is Spanish "without", "HC" head
#: circumference): only before a number of 6 or more digits.
_ID_LABELS_SHORT = "sin|nas|hc|phn|ihi|itin|inn|t\\.?z|no|nr|n°|#|ref|reference|case|fall|file|akte|expediente|fascicolo"
ID_LABELLED = (
    rf"(?i)(?:^|[^\p{{L}}])(?:{_ID_LABELS})[-\s]*(?:no|nr|num(?:ber)?|n[°º]|#)?\.?\s*[:#=\-]?\s*[A-Za-z]{{0,3}}[-\s]?\p{{Nd}}[\p{{Nd}}\s./\-]{{2,}}\p{{Nd}}"
    rf"|(?i)(?:^|[^\p{{L}}])(?:{_ID_LABELS_SHORT})[-\s]*(?:no|nr|n°)?\.?\s*[:#=\-]?\s*\p{{Nd}}(?:[\s./\-]?\p{{Nd}}){{5,}}"
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
    r"(?:^|[^\p{Nd}])\p{Nd}{3}\s\p{Nd}{2}\s\p{Nd}{4}(?:$|[^\p{Nd}])",  # US SSN written with spaces
    r"(?:^|[^\p{Nd}])756\.?\p{Nd}{4}\.?\p{Nd}{4}\.?\p{Nd}{2}(?:$|[^\p{Nd}])",  # Swiss AHV
    r"(?:^|[^\p{Nd}])\p{Nd}{2}\.?\p{Nd}{2}\.?\p{Nd}{2}-?\p{Nd}{3}\.?\p{Nd}{2}(?:$|[^\p{Nd}])",  # Belgian national number
    r"(?:^|[^\p{Nd}])\p{Nd}{4}-\p{Nd}{4}-\p{Nd}{4}(?:$|[^\p{Nd}])",  # Aadhaar / My Number with hyphens
    r"(?i)(?:^|[^\p{L}\p{N}])\p{Nd}{4}-?\p{Nd}{3}-?\p{Nd}{3}-?[A-Z]{2}(?:$|[^\p{L}\p{N}])",  # Ontario health card
    r"(?i)(?:^|[^\p{L}\p{N}])[XYZ]-?\p{Nd}{7}-?[A-Z](?:$|[^\p{L}\p{N}])",  # Spanish NIE with hyphens
    r"(?i)(?:^|[^\p{L}\p{N}])\p{Nd}{1,2}\.\p{Nd}{3}\.\p{Nd}{3}\s?-?\s?[A-Z](?:$|[^\p{L}\p{N}])",  # DNI with dots
    r"(?i)(?:^|[^\p{L}\p{N}])[1-9][A-Z][A-Z0-9][0-9]-?[A-Z][A-Z0-9][0-9]-?[A-Z]{2}[0-9]{2}(?:$|[^\p{L}\p{N}])",  # US Medicare MBI
    r"(?i)(?:^|[^\p{L}])nhi\s*(?:no|number)?\.?\s*[:#]?\s*[A-HJ-NP-Z]{3}\s?[0-9]{2}[0-9A-Z]{2}(?:$|[^\p{L}\p{N}])",  # New Zealand NHI
    r"(?:^|[^\p{L}\p{N}])[A-Z9]{5}[0-9]{6}[A-Z9]{2}[0-9][A-Z]{2}(?:[0-9]{2})?(?:$|[^\p{L}\p{N}])",  # UK driving licence
    # machine-readable zone of a passport or ID card: P<GBRSMITH<<JOHN<<<<
    r"(?:^|[^A-Z0-9<])[A-Z][A-Z0-9<][A-Z<]{3}[A-Z]+(?:<[A-Z]+)*<<[A-Z]+(?:<[A-Z]*)*",
    r"(?:^|[^\p{L}\p{N}])[A-Z]{2}[0-9]{2}\s?[A-Z]{3}(?:$|[^\p{L}\p{N}])",  # UK vehicle registration AB12 CDE
    # a serial, device or account label before a code with two or more digits: S/N 12AB345, IMEI, Acct
    (r"(?i)(?:^|[^\p{L}])(?:s/n|sn|serial(?:\s*(?:no|number|nr))?|imei|imsi|iccid|udi|device\s*id|acct"
     r"|account(?:\s*(?:no|number))?|konto(?:nummer)?|compte|cuenta|reg(?:istration)?(?:\s*(?:no|number|mark))?|kennzeichen|plate)"
     r"\.?\s*[:#=]?\s*[A-Za-z0-9\-/.]{0,20}\p{Nd}[A-Za-z0-9\-/.]{0,20}\p{Nd}"),
    # IBAN: country, check digits, 11 to 30 letters and digits (grouped by 4 or not)
    r"(?i)(?:^|[^\p{L}\p{N}])[A-Z]{2}[0-9]{2}\s?[A-Z0-9]{4}(?:\s?[A-Z0-9]{4}){1,6}(?:\s?[A-Z0-9]{1,3})?(?:$|[^\p{L}\p{N}])",
)
#: A number written in groups (``12 34 56 78 90``, ``1234-567-890``): its digit count is checked
#: after the separators between digits are removed (see ``_rules.grouped_digits``).
GROUP_SEPARATOR = r"(\p{Nd})[\s.\-/()]{1,3}(\p{Nd})"
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
    "|plac|placu|rynek|n[aá]m[eě]st[ií]|n[aá]m|t[rř][ií]da|ulice|trg|t[eé]r|torget|torv|strada|str|aleea|bulevardul|bulvar"
    "|jalan|jl|jln|lorong|gang|gg|soi|thanon|đường|duong|phố|ngõ|marg|nagar|ulitsa|prospekt|pereulok"
    "|carrera|cra|kra|cll|diagonal|transversal|avenue|av|rodovia|estrada"
)
#: Street words of scripts without letter case or word spaces (Arabic, Hebrew, Thai, Cyrillic, ...).
_STREET_WORDS_UNCASED = "شارع|طريق|ش\\.|רחוב|רח'|שדרות|שד'|ถนน|ซอย|ул\\.|улица|пр-т|проспект|пер\\.|переулок|бульвар|대로|번길"
STREET = (
    rf"(?i)(?:^|[^\p{{L}}\p{{N}}])\p{{Nd}}+\s?[a-z]?,?\s+(?:[\p{{L}}'’.\-]+\s+){{0,4}}(?:{_STREET_WORDS})\.?(?:$|[^\p{{L}}])"
    rf"|(?i)\p{{L}}+(?:stra(?:ss|ß)e|str\.|gasse|weg|straat|laan|gatan|v[aä]gen|vej|gade|katu|utca)\s+\p{{Nd}}+\s?[a-z]?(?:$|[^\p{{L}}\p{{N}}])"
    rf"|(?i)(?:^|[^\p{{L}}])(?:{_STREET_WORDS})\.?\s+(?:[\p{{L}}'’.\-]+,?\s+){{0,3}}(?:no\.?\s*)?\p{{Nd}}+[a-z]?(?:$|[^\p{{L}}\p{{N}}])"
    rf"|(?i)(?:{_STREET_WORDS_UNCASED})[\p{{L}}\p{{M}}\s'’.\-]{{0,40}}\p{{Nd}}"
    r"|(?i)(?:^|[^\p{L}])(?:p\.?\s*o\.?\s*box|post\s*office\s*box|postfach|apartado(?:\s+postal)?|bo[iî]te\s+postale|casilla"
    r"|caixa\s+postal|skrytka\s+pocztowa|postbus|postboks)\s*[.:#]?\s*\p{Nd}{2,}(?:$|[^\p{Nd}])"
    r"|(?i)(?:^|[^\p{L}])(?:flat|apt|apartment|suite|wohnung|piso|appartement)\s*\.?\s*\p{Nd}"
    r"|\p{Nd}+\s*(?:丁目|番地|号|번지|동|호)|(?:路|街|道|д\.)\s*\p{Nd}"
    # Japanese and Chinese: a prefecture, city or ward, then block numbers (東京都千代田区千代田1-1)
    r"|[\p{Han}\p{Hiragana}\p{Katakana}]+[都道府県市区町村郡省][\p{Han}\p{Hiragana}\p{Katakana}]*\p{Nd}+(?:[-ー−]\p{Nd}+)+"
    # Korean: a city or district, then a road and a number (강남구 테헤란로 123)
    r"|\p{Hangul}+[시구군]\s+\p{Hangul}+(?:로|길)\s*\p{Nd}+"
    # Latin American: Carrera 7 # 32-16
    r"|(?i)(?:^|[^\p{L}])(?:calle|carrera|cra|cll|avenida|diagonal|transversal)\.?\s+\p{Nd}+[a-z]?\s*(?:#|n[°º]|no\.?)\s*\p{Nd}+-\p{Nd}+"
)
#: The street-address rule as separate patterns (RE2 runs small patterns faster than one alternation).
STREET_PATTERNS: tuple[str, ...] = tuple(("(?i)" + p) if i else p for i, p in enumerate(STREET.split("|(?i)")))

POSTCODE = (
    r"^\s*(?:"
    r"(?i:[A-Z]{1,2}\p{Nd}[A-Z\p{Nd}]?\s+\p{Nd}[A-Z]{2})|[A-Z]{1,2}\p{Nd}[A-Z\p{Nd}]?\p{Nd}[A-Z]{2}"  # UK (no space: capitals)
    r"|\p{Nd}{5}-\p{Nd}{4}"  # US ZIP+4
    r"|(?i:[A-Z]\p{Nd}[A-Z]\s\p{Nd}[A-Z]\p{Nd})|[A-Z]\p{Nd}[A-Z]\p{Nd}[A-Z]\p{Nd}"  # Canada (no space: capitals)
    r"|[1-9]\p{Nd}{3}\s?[A-Z]{2}"  # Netherlands (capitals: "1000 mg" is a dose)
    r"|\p{Nd}{2}-\p{Nd}{3}"  # Poland
    r"|\p{Nd}{3}\s\p{Nd}{2}"  # Sweden, Czechia, Greece
    r"|〒?\s*\p{Nd}{3}-\p{Nd}{4}"  # Japan
    r"|\p{Nd}{5}-\p{Nd}{3}"  # Brazil
    r")\s*$"
    r"|^\s*(?:[A-Z]{1,2}-)?\p{Nd}{4,5}\s+\p{Lu}\p{L}+"  # postcode and town: 10115 Berlin, 75008 Paris
)
_US_STATES = ("AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND"
              "|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR")
#: Full postcodes inside a longer value ("London SW1A 2AA", "Toronto, ON M5V 3L9", "Springfield, IL 62704").
POSTCODE_IN_TEXT: tuple[str, ...] = (
    r"(?:^|[^\p{L}\p{N}])[A-Z]{1,2}\p{Nd}[A-Z\p{Nd}]?\s\p{Nd}[A-Z]{2}(?:$|[^\p{L}\p{N}])",  # UK
    r"(?:^|[^\p{L}\p{N}])[A-Z]\p{Nd}[A-Z]\s?\p{Nd}[A-Z]\p{Nd}(?:$|[^\p{L}\p{N}])",  # Canada
    rf"(?:^|[^\p{{L}}])(?:{_US_STATES})\s+\p{{Nd}}{{5}}(?:-\p{{Nd}}{{4}})?(?:$|[^\p{{Nd}}])",  # US state and ZIP
    r"〒\s*\p{Nd}{3}-?\p{Nd}{4}",  # Japan, with the postal mark
)

# ------------------------------------------------------------------------------------------------
# personal names

_TITLES = (
    "mr|mrs|ms|miss|mx|dr|prof|sir|dame|lady|lord|rev|revd|hon|frau|herr|fr|hr|fräulein|frl|mme|mlle|mmes|mons|monsieur"
    "|madame|mademoiselle|sr|sra|srta|se[nñ]or|se[nñ]ora|se[nñ]orita|d[oñ]a|do[nñ]a|dña|don|sig|sig\\.ra|sig\\.na|sigra|signor|signora"
    "|signorina|dott|dott\\.ssa|dottssa|mevr|mevrouw|dhr|heer|mw|pan|pani|fru|herra|rouva|sn|bay|bayan|sayın|shri|sri|smt"
    "|srimati|kumari|sheikh|sheikha|hajji?|г-н|г-жа|господин|госпожа|гражданин|κ|κα|κος|κυρία|κύριος|السيد|السيدة"
    "|الأستاذ|הגברת|מר|श्री|श्रीमती"
    # more languages: Spanish / Portuguese feminine forms (Dra., Sr.ª), Italian, German dative,
    # English, Czech, Vietnamese, Indonesian, Russian, Greek
    "|dra|dr\\.?a|sr\\.?a|prof\\.?a|prof\\.?ssa|profa|avv|ing|mister|madam|herrn|pí|paní|slečna|ông|bà|cô|chị"
    "|bapak|bpk|ibu|sdr|sdri|гражданка|доктор|д-р|проф|товарищ|тов|κος|κα|κυρ|δρ"
    # academic titles of Central Europe, military and religious ranks, nursing titles
    "|mgr|judr|mudr|mvdr|phdr|rndr|paeddr|dipl|capt|cpt|sgt|lt|maj|cmdr|cdr|adm|nurse|matron|imam|rabbi|pastor|bishop"
)
#: Lower-case words that may follow a title before the name: "Dr. med. vet. Huber", "dr hab. Kowalski".
_TITLE_QUALIFIERS = r"(?:(?i:med|vet|dent|rer\.?\s*nat|phil|jur|h\.?\s*c|hab|habil|sc|ing|dr|prof)\.?\s+)*"
#: Titles of scripts without letter case, which may be written without a space ("นายสมชาย").
_TITLES_UNCASED = (
    "นาย|นางสาว|นาง|น\\.ส\\.|ด\\.ช\\.|ด\\.ญ\\.|นพ\\.|พญ\\.|الدكتور|الدكتورة|د\\.|الشيخ|الأستاذة|السيدة|السيد"
    "|ד\"ר|ד״ר|גב'|גב׳|גברת|הגב'|פרופ'|פרופ׳|डॉ\\.?|डॉक्टर|सुश्री|श्रीमती|श्री"
)
TITLE_NAME = (
    # a title, then a capitalised word (any script) or a word of an uncased script
    rf"(?:^|[^\p{{L}}])(?i:{_TITLES})(?:\.\s*|\s+){_TITLE_QUALIFIERS}(?:(?i:van|de|von|der|den|la|le|da|di|du|del|dos|das|ter|ten)\s+)*"
    r"(?:\p{Lu}|\p{Lo})"
    # "M." (French) only at the start of a value
    r"|^\s*M\.\s*\p{Lu}\p{Ll}"
    # honorific suffixes of East Asian names: 山田さん, 王先生, 김민수 씨
    r"|\p{Lo}\s?(?:さん|様|さま|先生|女士|小姐|太太|老师|老師|君|くん|ちゃん|殿|氏|씨|님|선생님|여사)(?:$|[^\p{L}])"
    # titles of uncased scripts, with or without a space: นายสมชาย, الدكتور أحمد, ד"ר כהן, डॉ. राहुल
    rf"|(?:^|[^\p{{L}}\p{{M}}])(?:{_TITLES_UNCASED})\s*[\p{{Lo}}]"
    # honorifics after a capitalised name: Ahmet Bey, Ayşe Hanım, Tanaka-san, Gandhi ji
    r"|^\s*\p{Lu}\p{Ll}+(?:\s+\p{Lu}\p{Ll}+)?\s*[-\s](?i:san|sama|sensei|kun|chan|hanım|hanim|bey|efendi|ji|sahib|saheb)\s*$"
)
_PARTICLES = (
    "van|van der|van den|van de|vd|von|von der|von und zu|zu|de|de la|de las|de los|del|della|delle|degli|di|da|das|dos"
    "|du|des|le|la|lo|ter|ten|bin|binti|bint|ibn|ben|bat|abu|umm|ap|y|e|af|av|op|te|zur|dal|dei|vom|ver"
    "|do|mac|mc|ó|o|ní|nic|ua|uí|bean|ould|ag"
)
PARTICLE_NAME = (
    rf"^\s*\p{{Lu}}[\p{{L}}'’\-]+(?:\s+\p{{Lu}}[\p{{L}}'’\-]+)?\s+(?:(?i:{_PARTICLES})\s+|(?i:d|dell|l)['’])\p{{Lu}}?[\p{{L}}'’\-]+"
    rf"(?:\s+(?:(?i:{_PARTICLES})\s+)?\p{{Lu}}[\p{{L}}'’\-]+){{0,3}}\s*$"
    # a value that starts with a particle: "van der Berg, Anna", "de la Cruz"
    rf"|^\s*(?:van|van der|van den|von|von der|de|de la|de las|de los|del|della|di|da|dos|das|du|le|la|ter|ten|bin|ibn|al|el)\s+\p{{Lu}}\p{{Ll}}+"
    r"|^\s*(?:Ibn|Abu|Bin|Bint|Binti|Umm|Ould|Ó|Ní|Nic|Mac|Mc)\s+\p{Lu}\p{Ll}+"
    # prefixed surnames: al-Rashid, el-Amin, O'Brien, D'Angelo, McDonald, MacLeod, FitzGerald
    r"|(?:^|[^\p{L}])(?:[Aa]l|[Ee]l|[Aa]bd)-\p{L}{2,}"
    r"|(?:^|[^\p{L}])[OD]['’`´]\p{Lu}\p{Ll}+"
    r"|(?:^|[^\p{L}])(?:Mc|Mac|Fitz)\p{Lu}\p{Ll}+"
    # Irish and Welsh forms: Nic an tSaoi, Mac an tSaoir, Ní Dhomhnaill, ap Rhys
    r"|(?:^|[^\p{L}])(?:Mac|Nic|Mhic|Ní|Ó|Uí|Ua)\s+(?:an\s+|a'\s+)?[thn]?\p{Lu}\p{Ll}"
    r"|^\s*(?:ap|ab|verch|ferch)\s+\p{Lu}\p{Ll}+"
    # Arabic and Hebrew "son / daughter of" between two names: محمد بن سلمان, משה בן דוד
    r"|[\p{Lo}\p{M}]{2,}\s+(?:بن|بنت|ابن|ابنة|أبو|ابو|آل|בן|בת|בר)\s+[\p{Lo}\p{M}]{2,}"
    # a foreign name in Japanese katakana, given and family name joined by a middle dot: ジョン・スミス
    r"|^\s*\p{Katakana}{2,}[・･]\p{Katakana}{2,}\s*$"
)
#: Shapes of simple keys and codes ("P0000001", "FD-0001", "S01", "17"): only the rules in
#: ``_rules.PLAIN`` can match them, so the others are not run on them.
PLAIN = r"^(?:[A-Za-z]{1,4}[-_]?[0-9]{1,8}|[0-9]{1,8})$"

#: A surname as written in lists: capitalised or all capitals, hyphenated parts ("SMITH", "Smith-Jones").
_SURNAME = r"\p{Lu}(?:[\p{Ll}\p{M}'’]+|[\p{Lu}\p{M}'’]+)(?:-\p{Lu}(?:[\p{Ll}\p{M}'’]+|[\p{Lu}\p{M}'’]+))*"
_GIVEN = r"\p{Lu}[\p{Ll}\p{M}'’]+(?:-\p{Lu}[\p{Ll}\p{M}'’]+)*"
#: "Surname, Given" in any cased script ("SMITH, John", "Smith, J.", "García López, María").
COMMA_NAME = (
    rf"^\s*{_SURNAME}(?:\s+{_SURNAME})?,\s*(?:{_GIVEN}(?:\s+\p{{Lu}}\.?|\s+{_GIVEN})?|\p{{Lu}}\.(?:\s*\p{{Lu}}\.)?)\s*$"
    r"|^\s*\p{Lu}\.\s*(?:\p{Lu}\.\s*){0,2}\p{Lu}\p{Ll}[\p{Ll}\p{M}'’]*(?:-\p{Lu}?\p{Ll}[\p{Ll}\p{M}'’]*)*\s*$"  # J. Smith, J.R.R. Tolkien
    r"|^\s*\p{Lu}\p{Ll}[\p{Ll}'’\-]+\s+(?:\p{Lu}\.\s*){1,3}$"  # Tolkien J.R.R., Smith J.
    # a title after the name: Smith (Mrs), Jones, Dr.
    rf"|^\s*{_SURNAME}(?:\s+{_SURNAME})?\s*(?:\(\s*(?i:{_TITLES})\.?\s*\)|,\s*(?i:{_TITLES})\.?)\s*$"
)
#: A name after a label that says it is one: "Name: John Smith", "Nom : Dupont", "氏名: 山田太郎".
NAME_LABEL = (
    r"(?i:(?:first|last|given|family|full|maiden|patient'?s?|pt)?\s*name|surname|nom|pr[ée]nom|nombre|apellidos?|nome|cognome"
    r"|naam|achternaam|voornaam|vorname|nachname|imi[eę]|nazwisko|имя|фамилия|фио|όνομα|επώνυμο|氏名|姓名|名前|이름|성명"
    r"|الاسم|اسم|שם)\s*[:=]\s*(?:\p{Lu}\p{Ll}|\p{Lu}{2,}|\p{Lo})"
)
#: A relation or contact word before a capitalised name in running text ("wife Mary", "seen by Dr").
RELATION_NAME = (
    r"(?:^|[^\p{L}])(?i:wife|husband|son|daughter|mother|mum|mom|father|dad|brother|sister|partner|fianc[eé]e?|carer|caregiver"
    r"|neighbou?r|friend|gp|seen\s+by|referred\s+by|reviewed\s+by|spoke\s+(?:to|with)|called|phoned|rang|visited\s+by"
    r"|accompanied\s+by|ehefrau|ehemann|sohn|tochter|mutter|vater|femme|mari|fils|fille|m[eè]re|p[eè]re|esposa|esposo|hijo"
    r"|hija|madre|padre|moglie|marito|figlio|figlia|echtgenote|zoon|dochter)[\s:,]+\p{Lu}\p{Ll}+"
)
#: Two or three capitalised words (any cased script), optionally with a middle initial.
_WORD = r"\p{Lu}[\p{Ll}\p{M}'’]+(?:-\p{Lu}?[\p{Ll}\p{M}'’]+)*"
CAPITALISED_NAME = rf"^\s*{_WORD}(?:\s+\p{{Lu}}\.?)?(?:\s+{_WORD}){{1,2}}\s*$"
#: Names in capitals ("JOHN SMITH") and a surname with an initial ("Smith J", "J Smith").
_CAPS = r"\p{Lu}{2,}(?:[-'’]\p{Lu}+)*"
CAPS_NAME = rf"^\s*{_CAPS}(?:\s+{_CAPS}){{1,2}}\s*$"
INITIAL_NAME = r"^\s*\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?\s+\p{Lu}\.?\s*$|^\s*\p{Lu}\.?\s+\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?\s*$"
#: One to four words of a script without letter case (CJK, Arabic, Hebrew, Indic, Thai, ...).
UNCASED_NAME = r"^\s*[\p{Lo}\p{M}]{2,12}(?:[\s·・‧•\-][\p{Lo}\p{M}]{1,12}){0,3}\s*$"
#: Words that name an institution: a value holding one is not read as a person's name.
INSTITUTION = (
    r"(?i)hospital|h[oô]pital|clinic|cl[ií]nica|klinik|kliniek|clinique|centre|center|centro|zentrum|ospedale|policlinic"
    r"|poliklinik|universit|infirmary|krankenhaus|ziekenhuis|sjukhus|sykehus|sygehus|sairaala|szpital|nemocnice"
    r"|k[oó]rh[aá]z|hastane|medical|health|trust|practice|surgery|praxis|unit|ward|department|dept|site|institut"
    r"|(?:^|[^\p{L}])(?:group|team|region|area|zone|wing|network|service|programm?e?|project|cohort|campus)(?:$|[^\p{L}])"
    r"|больниц|клиник|госпитал|νοσοκομε|κλινικ|医院|病院|クリニック|병원|의원|مستشفى|בית חולים|अस्पताल"
)

# ------------------------------------------------------------------------------------------------
# patient keys (used only for key columns)

#: A key made of letters only (any script), with spaces, apostrophes, dots or hyphens: a name.
KEY_LETTERS_ONLY = r"^[\p{L}\p{M}\s'’.,_\-]*[\p{L}\p{M}]{2,}[\p{L}\p{M}\s'’.,_\-]*$"
#: A record label in front of a number: MRN-00012345, UR123456, HN 4711, NHS9434765919.
KEY_RECORD_LABEL = (
    r"(?i)^\s*(?:mrn|mr|urn|ur|umrn|hn|hosp|hospno|rn|pas|emr|ehr|nhs|chi|hcn|rec|record|chart|kvnr|pid|nip|ipp|nhc|nhi|hc"
    r"|aktenzeichen|az|fallnr|fall)\s*[.:#_\-/]*\s*\p{Nd}{3,}"
)
#: Two or three letters (initials) next to six digits that read as a date (DDMMYY or MMDDYY).
KEY_INITIALS_DATE = (
    rf"^\s*\p{{L}}{{2,3}}\s*[-_./\s]?\s*(?:{DAY2}{MONTH2}|{MONTH2}{DAY2})[0-9]{{2}}\s*$"
    rf"|^\s*(?:{DAY2}{MONTH2}|{MONTH2}{DAY2})[0-9]{{2}}\s*[-_./\s]?\s*\p{{L}}{{2,3}}\s*$"
)

#: A word in a key: four or more letters, or three written as a name (``Lee``, ``lee``; three
#: capitals ``ZQX`` read as initials or a code), or two of the CJK / Hangul scripts (whose names
#: are two or three characters). Used by the scanner's key-word rule.
KEY_WORD = (r"[\p{L}\p{M}]{4,}|\p{Lu}\p{Ll}{2}|\p{Ll}{3}|[\p{Han}\p{Hangul}\p{Hiragana}\p{Katakana}]{2,}"
            r"|[\p{Lo}\p{M}]{3,}")

# ------------------------------------------------------------------------------------------------
# hidden characters

#: Hidden characters that change what a reader sees without being seen: text-direction overrides
#: and isolates, zero-width space, word joiner and invisible operators, soft hyphen, a byte-order
#: mark inside a value. (Zero-width joiners, which some scripts need, are only removed.)
HIDDEN = r"[\x{202A}-\x{202E}\x{2066}-\x{2069}\x{200B}\x{2060}-\x{2064}\x{180E}\x{FEFF}\x{00AD}]"
#: Removed before matching: format characters (zero-width space and joiners, soft hyphen, byte-order
#: mark, ...) and combining marks left over after NFKC composition (strike-through, stacked accents).
INVISIBLE = r"[\p{Cf}\x{0300}-\x{036F}\x{1AB0}-\x{1AFF}\x{1DC0}-\x{1DFF}\x{20D0}-\x{20FF}\x{FE20}-\x{FE2F}]"
#: Dashes of every kind, read as ``-``.
DASHES = r"[\p{Pd}\x{2212}\x{FE63}\x{FF0D}]"
