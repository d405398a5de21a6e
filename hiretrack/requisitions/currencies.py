"""The currencies a salary may be in: the ISO 4217 codes of circulating currencies.

Fund codes (BOV, CLF, USN...), precious metals (XAU...) and the test codes (XTS, XXX) are left
out: nobody is paid in them. The web forms, the services and the API all check against this set.
"""

_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER
    ZAR ZMW ZWG
"""
ISO_4217_CURRENCIES = frozenset(_CODES.split())

CURRENCY_MESSAGE = "An ISO 4217 currency code in capitals, such as EUR, GBP or USD."


def is_currency(code: str) -> bool:
    """Say whether code is a circulating currency's ISO 4217 code (exactly, in capitals)."""
    return code in ISO_4217_CURRENCIES
