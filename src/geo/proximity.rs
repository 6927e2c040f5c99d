//! Proximity: pools ordered by great-circle distance from a client.
//!
//! Pure geometry, below steering and the compiled state: [`crate::steering::candidates`] sorts
//! by [`great_circle_km`], and [`ProximityOrder`] gives the same order fast enough for every
//! city of a database (at load) and for every query (a proximity map keeps no per-location
//! table: it orders the pools for the client's location when asked).

use smallvec::SmallVec;

/// Haversine distance on a sphere of the Earth's mean radius.
pub fn great_circle_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

/// Proximity order for many clients: the pools of a proximity load balancer sorted by
/// distance from a client, exactly as [`crate::steering::candidates`] sorts them (by [`great_circle_km`],
/// ties in configured order), but fast enough to run for every city of a GeoIP database.
///
/// Great-circle distance grows as the dot product of the unit vectors shrinks, so sorting by
/// dot product gives the same order, at three multiplications per pool instead of the
/// haversine's trigonometry. Floating point could still order two pools differently from
/// [`great_circle_km`] where they are almost equally far (or where the haversine loses
/// precision, near the client's antipode), so wherever two neighbours in the order are closer
/// than [`ProximityOrder::MARGIN`], or a pool is nearly antipodal, the order is computed the
/// way [`crate::steering::candidates`] computes it. Elsewhere both orders are the true one: the margin is
/// orders of magnitude above either computation's rounding error.
#[derive(Debug, Clone)]
pub struct ProximityOrder {
    coords: Vec<(f64, f64)>,
    units: Vec<[f64; 3]>,
}

impl ProximityOrder {
    /// Dot products closer than this fall back to the exact order.
    pub const MARGIN: f64 = 1e-9;

    /// The pools' coordinates (degrees), in configured order.
    pub fn new(coords: &[(f64, f64)]) -> Self {
        Self {
            coords: coords.to_vec(),
            units: coords.iter().map(|&c| unit(c)).collect(),
        }
    }

    /// How many pools it orders.
    pub fn len(&self) -> usize {
        self.coords.len()
    }

    /// Whether it orders no pool.
    pub fn is_empty(&self) -> bool {
        self.coords.is_empty()
    }

    /// Fills `out` with the pool indices, nearest to `client` first.
    pub fn order(&self, client: (f64, f64), out: &mut SmallVec<[u16; 16]>) {
        self.order_from(client, ProximityOrder::unit(client), out);
    }

    /// The unit vector of a point, for [`order_from`](Self::order_from): computed once for a
    /// place many orders are asked for.
    pub fn unit(at: (f64, f64)) -> [f64; 3] {
        unit(at)
    }

    /// [`order`](Self::order), with `client`'s unit vector given.
    pub fn order_from(&self, client: (f64, f64), c: [f64; 3], out: &mut SmallVec<[u16; 16]>) {
        self.order_unit(c, || client, out);
    }

    /// [`order`](Self::order) from the client's unit vector `c`; `client` gives its
    /// coordinates, asked for only where the exact order must be computed (rarely).
    pub fn order_unit(
        &self,
        c: [f64; 3],
        client: impl FnOnce() -> (f64, f64),
        out: &mut SmallVec<[u16; 16]>,
    ) {
        out.clear();
        let mut d: SmallVec<[(f64, u16); 16]> = self
            .units
            .iter()
            .enumerate()
            .map(|(i, u)| (u[0] * c[0] + u[1] * c[1] + u[2] * c[2], i as u16))
            .collect();
        // Largest dot product (nearest) first; equal ones in configured order.
        d.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let close = d.windows(2).any(|w| w[0].0 - w[1].0 < Self::MARGIN)
            || d.last().is_some_and(|x| x.0 < -1.0 + 1e-6);
        if close {
            let client = client();
            let mut exact: SmallVec<[(f64, u16); 16]> = self
                .coords
                .iter()
                .enumerate()
                .map(|(i, &p)| (great_circle_km(client, p), i as u16))
                .collect();
            exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            out.extend(exact.iter().map(|x| x.1));
        } else {
            out.extend(d.iter().map(|x| x.1));
        }
    }
}

fn unit((lat, lon): (f64, f64)) -> [f64; 3] {
    let (lat, lon) = (lat.to_radians(), lon.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}
