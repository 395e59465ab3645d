"""Money as `{amount, currency}`: decimal strings on the wire, integer minor units at rest."""

from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# ISO 4217 active codes and their minor units (exponent); 2 unless listed otherwise.
_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4 = "CLF UYW"
_EXPONENT_2 = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED "
    "VES WST XCD XCG YER ZAR ZMW ZWG"
)
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_EXPONENT_2.split(), 2),
    **dict.fromkeys(_EXPONENT_0.split(), 0),
    **dict.fromkeys(_EXPONENT_3.split(), 3),
    **dict.fromkeys(_EXPONENT_4.split(), 4),
}
# Up to a trillion: with 4 decimals still far inside a 64-bit integer of minor units.
MAX_AMOUNT = Decimal("1e12")


class Money(BaseModel):
    """An exact amount in one ISO 4217 currency; never a float, never converted."""

    model_config = ConfigDict(extra="forbid")

    amount: Annotated[
        str, Field(pattern=r"^[0-9]{1,13}(\.[0-9]{1,4})?$", examples=["12500.00"], max_length=18)
    ]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, currency: str) -> str:
        if currency not in CURRENCY_EXPONENTS:
            raise ValueError(f"{currency} is not an ISO 4217 currency code")
        return currency

    @field_validator("amount")
    @classmethod
    def _exact_amount(cls, amount: str) -> str:
        try:
            value = Decimal(amount)
        except InvalidOperation as exc:  # the pattern already excludes this; belt and braces
            raise ValueError("amount must be a decimal string") from exc
        if value >= MAX_AMOUNT:
            raise ValueError("amount is too large")
        return amount

    @model_validator(mode="after")
    def _fits_minor_units(self) -> "Money":
        exponent = CURRENCY_EXPONENTS[self.currency]
        scaled = Decimal(self.amount).scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{self.currency} amounts have at most {exponent} decimal places")
        return self

    def to_minor_units(self) -> int:
        return int(Decimal(self.amount).scaleb(CURRENCY_EXPONENTS[self.currency]))

    @classmethod
    def from_minor_units(cls, minor: int, currency: str) -> "Money":
        # Built without validation: stored amounts and totals may exceed what one input may.
        return cls.model_construct(amount=format_minor_units(minor, currency), currency=currency)

    @classmethod
    def maybe(cls, minor: int | None, currency: str | None) -> "Money | None":
        if minor is None or currency is None:
            return None
        return cls.from_minor_units(minor, currency)


def format_minor_units(minor: int, currency: str) -> str:
    """`125050, "EUR"` -> `"1250.50"`: exact, whatever the size of a total."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    return f"{Decimal(minor).scaleb(-exponent):.{exponent}f}"
