-- Registry: sites (一站一码) and equipment items (一物一码).
CREATE TABLE sites (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{6}-[0-9]{4}$'),
    name        text NOT NULL CHECK (name <> ''),
    division    text GENERATED ALWAYS AS (left(code, 6)) STORED,
    address     text,
    latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision CHECK (longitude BETWEEN -180 AND 180),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE equipment (
    code                text PRIMARY KEY CHECK (code ~ '^[0-9]{6}-[0-9]{4}-[0-9]{3}-[0-9X]$'),
    site_code           text NOT NULL REFERENCES sites (code),
    kind                text NOT NULL,
    model               text,
    installed_on        date NOT NULL,
    service_life_years  integer NOT NULL DEFAULT 8 CHECK (service_life_years BETWEEN 1 AND 50),
    location            text,
    service_status      text NOT NULL DEFAULT 'in_service'
                        CHECK (service_status IN ('in_service', 'out_of_service', 'retired')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (left(code, 11) = site_code)
);
CREATE INDEX equipment_site_code_idx ON equipment (site_code);
