"""Column-name rules: a column whose *name* says it holds an identifier is refused.

Names are short, so these are ordinary Python regular expressions, but a name longer than
:data:`MAX_NAME_CHARS` is refused before any pattern runs. Names are compared after Unicode
decomposition (accents dropped), camelCase splitting and lower-casing, with every run of
non-letters turned into ``_``; the word lists cover English and the main European languages.
"""

from __future__ import annotations

import re
import unicodedata

#: Column names longer than this are refused as they are (a header that is really text).
MAX_NAME_CHARS = 200

_NAME_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("a person's name", re.compile(
        r"^(?:(?:first|last|given|family|middle|full|maiden|patient|pt|sur|fore|nick|pat|mother|father|next_of_kin|nok|gp"
        r"|doctor|physician|clinician|carer|caregiver|guardian|relative|contact|spouse|partner|gp_?practitioner|referrer"
        r"|emergency_contact)_?)?names?$|surname|forename|initials|^fname$|^lname$|^nom$|^name_|(?:^|_)(?:prenom"
        r"|emergency_?contact|contact_?person|guardian|legal_?guardian|next_?of_?kin"
        r"|nom_de_famille|vorname|nachname|familienname|apellidos?|cognome|nome|naam|achternaam|voornaam|imie|nazwisko"
        r"|fornavn|efternavn|etternavn|fornamn|efternamn|sukunimi|etunimi|familia|imya|imja|otchestvo|xingming|shimei"
        r"|seimei|ireum)(?:_|$)")),
    ("a record number", re.compile(
        r"(?:^|_)mrn(?:_|$)|medical_?record|record_?(?:no|num|number|id)|hospital_?(?:no|num|number|id)|hosp_?no"
        r"|chart_?(?:no|num|number)|case_?(?:no|num|number)|episode_?(?:no|num|number)|encounter_?(?:no|num|number)"
        r"|accession|(?:^|_)(?:urn|ur_no|pas_?(?:no|id)|emr_?id|ehr_?id|nhc|ipp|fallnummer|fall_?nr|aktenzeichen"
        r"|numero_?(?:de_)?(?:historia|dossier|cartella)|historia_?clinica|dossier)(?:_|$)")),
    ("a national ID", re.compile(
        r"(?:^|_)(?:ssn|sin|nhs|chi|nino|bsn|pesel|personnummer|cpr|medicare|medicaid|aadhaar|tfn|insee|nir|dni|nie|nif"
        r"|cpf|curp|rrn|nric|hetu|henkilotunnus|fodselsnummer|codice_?fiscale|steuer_?id|svnr|ahv|amka|egn|oib|jmbg"
        r"|isikukood|kvnr|versichertennummer)(?:_|$)|social_?security|national_?(?:id|insurance|number)|passport|reisepass"
        r"|driv(?:er|ing)_?licen[cs]e|health_?(?:card|insurance_?(?:no|number))|insurance_?(?:no|num|number|id)"
        r"|tax_?(?:id|no|number)|securite_?sociale|sozialversicherung")),
    ("a phone number", re.compile(
        r"phone|(?:^|_)(?:tel|tele|telephone|telefon|telefono|mobile|mobil|handy|movil|celular|cell|fax"
        r"|contact_?(?:no|number))(?:_|$)")),
    ("an e-mail address", re.compile(r"e_?mail|courriel|correo")),
    ("a street address", re.compile(
        r"address|adresse|direccion|indirizzo|endereco|(?:^|_)(?:addr\d*|adres|street|strasse|calle|rue|via|house_?(?:no|number)"
        r"|hausnummer|residence|home_?town|wohnort|domicilio)(?:_|$)")),
    ("a bank account or card number", re.compile(
        r"(?:^|_)(?:iban|bic|swift|sort_?code|bank_?account|bank_?details|account_?(?:no|num|number)|credit_?card"
        r"|debit_?card|card_?(?:no|num|number)|kontonummer|bankverbindung|rib)(?:_|$)")),
    ("a vehicle registration", re.compile(
        r"(?:^|_)(?:vehicle|vehicle_?reg|car_?reg|licen[cs]e_?plate|number_?plate|reg_?plate|registration_?(?:plate|mark)"
        r"|kennzeichen|matr[ií]cula|immatriculation|targa)(?:_|$)")),
    ("a location", re.compile(
        r"(?:^|_)(?:latitude|longitude|lng|gps|geo_?loc(?:ation)?|geolocation|coordinates|geocode|what3words"
        r"|place_?of_?birth|birth_?place|birthplace|geburtsort|lugar_?de_?nacimiento|lieu_?de_?naissance)(?:_|$)")),
    ("a postcode", re.compile(
        r"post_?code|postal|postleitzahl|(?:^|_)(?:zip(?:_?code)?|plz|cp|cap|codigo_?postal|code_?postal|cep)(?:_|$)")),
    ("a date of birth", re.compile(
        r"(?:^|_)dob(?:_|$)|birth|geboren|geburt|(?:^|_)bday(?:_|$)|naissance|nacimiento|nascita|geboorte|fodsel|urodzenia")),
    ("a calendar date", re.compile(
        r"(?:^|_)(?:dates?|dt|datetime|timestamp|time_?stamp|dod|doa|dov|admitted|discharged|datum|fecha)(?:_|$)"
        r"|(?<!up)(?<!candi)(?<!vali)date$")),
    ("free-text notes", re.compile(
        r"(?:^|_)(?:notes?|comments?|remarks?|narrative|free_?text|text|memo|letter|clinical_?notes?|bemerkung|kommentar"
        r"|commentaire|comentario|note|notitie|opmerking)(?:_|$)")),
    ("an online identifier", re.compile(
        r"(?:^|_)(?:ip|ip_?address|url|website|username|user_?name|login|device_?serial|serial_?(?:no|number)"
        r"|mac_?address|imei|imsi|iccid|udi|device_?id|skype|twitter|instagram|facebook|linkedin|whatsapp|telegram|wechat"
        r"|social_?media)(?:_|$)")),
    ("a photograph or biometric", re.compile(
        r"(?:^|_)(?:photo|photograph|image|fingerprint|face_?image|biometric)s?(?:_|$)")),
]


def normalise_name(name: object) -> str:
    """A column name as compared by the rules: no accents, camelCase split, lower case, ``_``."""
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"[\W_]+", "_", text.lower()).strip("_")


def name_reason(name: object) -> str | None:
    """Why a column name looks like a direct identifier (``"name looks like ..."``), or ``None``."""
    text = str(name)
    if len(text) > MAX_NAME_CHARS:
        return f"name is longer than {MAX_NAME_CHARS} characters"
    norm = normalise_name(text)
    for reason, pattern in _NAME_RULES:
        if pattern.search(norm):
            return f"name looks like {reason}"
    return None
