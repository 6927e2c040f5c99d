"""Synthetic GeoIP2-City data: countries by continent, and a rough map of who allocated
each IPv4 /8, so that neighbouring networks tend to share a continent as they do in real
databases (which matters for servers that merge adjacent networks into wider ECS scopes).

Everything here is approximate and made up for benchmarking; geoname ids are synthetic.
"""

CONTINENTS = {
    "AF": (6255146, "Africa"),
    "AN": (6255152, "Antarctica"),
    "AS": (6255147, "Asia"),
    "EU": (6255148, "Europe"),
    "NA": (6255149, "North America"),
    "OC": (6255151, "Oceania"),
    "SA": (6255150, "South America"),
}

# iso_code, name, continent, latitude, longitude, time zone, weight within its region
COUNTRIES = [
    ("US", "United States", "NA", 37.75, -97.82, "America/Chicago", 60),
    ("CA", "Canada", "NA", 56.0, -96.0, "America/Toronto", 10),
    ("MX", "Mexico", "NA", 23.0, -102.0, "America/Mexico_City", 6),
    ("GT", "Guatemala", "NA", 15.5, -90.25, "America/Guatemala", 1),
    ("CR", "Costa Rica", "NA", 10.0, -84.0, "America/Costa_Rica", 1),
    ("PR", "Puerto Rico", "NA", 18.25, -66.5, "America/Puerto_Rico", 1),
    ("BR", "Brazil", "SA", -10.0, -55.0, "America/Sao_Paulo", 40),
    ("AR", "Argentina", "SA", -34.0, -64.0, "America/Argentina/Buenos_Aires", 12),
    ("CL", "Chile", "SA", -30.0, -71.0, "America/Santiago", 8),
    ("CO", "Colombia", "SA", 4.0, -72.0, "America/Bogota", 10),
    ("PE", "Peru", "SA", -10.0, -76.0, "America/Lima", 5),
    ("VE", "Venezuela", "SA", 8.0, -66.0, "America/Caracas", 4),
    ("EC", "Ecuador", "SA", -2.0, -77.5, "America/Guayaquil", 3),
    ("UY", "Uruguay", "SA", -33.0, -56.0, "America/Montevideo", 2),
    ("DE", "Germany", "EU", 51.3, 9.49, "Europe/Berlin", 20),
    ("GB", "United Kingdom", "EU", 51.5, -0.13, "Europe/London", 18),
    ("FR", "France", "EU", 48.86, 2.34, "Europe/Paris", 15),
    ("NL", "Netherlands", "EU", 52.38, 4.9, "Europe/Amsterdam", 10),
    ("IT", "Italy", "EU", 43.15, 12.11, "Europe/Rome", 10),
    ("ES", "Spain", "EU", 40.4, -3.68, "Europe/Madrid", 9),
    ("PL", "Poland", "EU", 52.23, 21.01, "Europe/Warsaw", 7),
    ("SE", "Sweden", "EU", 59.33, 18.06, "Europe/Stockholm", 5),
    ("RU", "Russia", "EU", 55.75, 37.62, "Europe/Moscow", 12),
    ("UA", "Ukraine", "EU", 50.45, 30.52, "Europe/Kyiv", 4),
    ("CH", "Switzerland", "EU", 47.14, 8.15, "Europe/Zurich", 4),
    ("CZ", "Czechia", "EU", 50.08, 14.42, "Europe/Prague", 3),
    ("RO", "Romania", "EU", 44.43, 26.1, "Europe/Bucharest", 3),
    ("NO", "Norway", "EU", 59.91, 10.75, "Europe/Oslo", 3),
    ("FI", "Finland", "EU", 60.17, 24.94, "Europe/Helsinki", 2),
    ("IE", "Ireland", "EU", 53.35, -6.26, "Europe/Dublin", 2),
    ("TR", "Turkey", "AS", 41.01, 28.98, "Europe/Istanbul", 4),
    ("IR", "Iran", "AS", 35.69, 51.39, "Asia/Tehran", 3),
    ("SA", "Saudi Arabia", "AS", 24.71, 46.68, "Asia/Riyadh", 2),
    ("AE", "United Arab Emirates", "AS", 25.2, 55.27, "Asia/Dubai", 2),
    ("IL", "Israel", "AS", 32.07, 34.78, "Asia/Jerusalem", 2),
    ("CN", "China", "AS", 34.77, 113.72, "Asia/Shanghai", 40),
    ("JP", "Japan", "AS", 35.69, 139.69, "Asia/Tokyo", 20),
    ("KR", "South Korea", "AS", 37.57, 126.98, "Asia/Seoul", 12),
    ("IN", "India", "AS", 21.0, 78.0, "Asia/Kolkata", 15),
    ("ID", "Indonesia", "AS", -6.21, 106.85, "Asia/Jakarta", 6),
    ("VN", "Vietnam", "AS", 21.03, 105.85, "Asia/Ho_Chi_Minh", 5),
    ("TW", "Taiwan", "AS", 25.03, 121.57, "Asia/Taipei", 6),
    ("TH", "Thailand", "AS", 13.75, 100.5, "Asia/Bangkok", 4),
    ("SG", "Singapore", "AS", 1.29, 103.85, "Asia/Singapore", 4),
    ("HK", "Hong Kong", "AS", 22.28, 114.16, "Asia/Hong_Kong", 4),
    ("PH", "Philippines", "AS", 14.6, 120.98, "Asia/Manila", 3),
    ("MY", "Malaysia", "AS", 3.14, 101.69, "Asia/Kuala_Lumpur", 3),
    ("PK", "Pakistan", "AS", 24.86, 67.0, "Asia/Karachi", 2),
    ("BD", "Bangladesh", "AS", 23.81, 90.41, "Asia/Dhaka", 2),
    ("AU", "Australia", "OC", -33.87, 151.21, "Australia/Sydney", 20),
    ("NZ", "New Zealand", "OC", -36.85, 174.76, "Pacific/Auckland", 5),
    ("FJ", "Fiji", "OC", -18.14, 178.44, "Pacific/Fiji", 1),
    ("PG", "Papua New Guinea", "OC", -9.44, 147.18, "Pacific/Port_Moresby", 1),
    ("ZA", "South Africa", "AF", -26.2, 28.05, "Africa/Johannesburg", 10),
    ("NG", "Nigeria", "AF", 6.52, 3.38, "Africa/Lagos", 6),
    ("EG", "Egypt", "AF", 30.04, 31.24, "Africa/Cairo", 6),
    ("KE", "Kenya", "AF", -1.29, 36.82, "Africa/Nairobi", 4),
    ("MA", "Morocco", "AF", 33.57, -7.59, "Africa/Casablanca", 4),
    ("DZ", "Algeria", "AF", 36.75, 3.06, "Africa/Algiers", 3),
    ("TN", "Tunisia", "AF", 36.81, 10.18, "Africa/Tunis", 2),
    ("GH", "Ghana", "AF", 5.6, -0.19, "Africa/Accra", 2),
    ("AQ", "Antarctica", "AN", -75.0, 0.0, "Antarctica/McMurdo", 1),
]

# Which registry allocated each IPv4 /8 (approximately, after the IANA registry), and so
# which mix of continents its networks get. Unlisted public /8s count as ARIN (legacy).
RIR_SLASH8 = {
    "RIPE": [2, 5, 25, 31, 37, 46, 51, 53, 57, 62, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86,
             87, 88, 89, 90, 91, 92, 93, 94, 95, 109, 141, 145, 151, 176, 178, 185, 188, 193,
             194, 195, 212, 213, 217],
    "APNIC": [1, 14, 27, 36, 39, 42, 43, 49, 58, 59, 60, 61, 101, 103, 106, 110, 111, 112,
              113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 133,
              150, 153, 163, 171, 175, 180, 182, 183, 202, 203, 210, 211, 218, 219, 220,
              221, 222, 223],
    "LACNIC": [177, 179, 181, 186, 187, 189, 190, 191, 200, 201],
    "AFRINIC": [41, 102, 105, 154, 196, 197],
}

# Continent mix per registry: most networks are in the registry's region, some elsewhere
# (multinationals, transfers), as in real data.
RIR_MIX = {
    "ARIN": {"NA": 90, "EU": 4, "AS": 3, "SA": 1, "OC": 1, "AF": 1},
    "RIPE": {"EU": 88, "AS": 7, "NA": 3, "AF": 2},
    "APNIC": {"AS": 85, "OC": 10, "NA": 3, "EU": 2},
    "LACNIC": {"SA": 85, "NA": 13, "EU": 2},
    "AFRINIC": {"AF": 92, "EU": 5, "NA": 3},
}

# Not in any location database: loopback, private, shared, link-local, multicast, reserved.
UNMAPPED_SLASH8 = {0, 10, 127} | set(range(224, 256))
UNMAPPED_NETS = ["100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
                 "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24"]

# Well-known networks placed where they really are, so that the /24s the benchmark checks
# (8.8.8.0/24 Google in the US, 193.0.6.0/24 RIPE NCC in the Netherlands, 1.1.1.0/24
# Cloudflare/APNIC labs in Australia, 202.12.27.0/24 the M root in Japan) geolocate as a
# real database would place them.
ANCHORS = [
    ("8.8.8.0/24", "US", 37.751, -97.822),
    ("193.0.6.0/24", "NL", 52.3824, 4.8995),
    ("1.1.1.0/24", "AU", -33.494, 143.2104),
    ("202.12.27.0/24", "JP", 35.69, 139.69),
]
