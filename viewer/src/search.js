// The search box: wards, cameras, streets and incidents by name, ignoring diacritics and case
// ("ky lua" finds Kỳ Lừa, "dong kinh" finds Đông Kinh). Arrow keys move through the results, Enter
// opens one, Escape closes the list.
import { getLang, t } from "./i18n.js";
import { nameNote } from "./author.js";
import { esc } from "./ui.js";

/** Return `s` without diacritics, lower case ("Kỳ Lừa" → "ky lua"; đ → d). */
export function fold(s) {
  return String(s ?? "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/gi, "d").toLowerCase()
    .replace(/\s+/g, " ").trim();
}

/** Return up to `limit` matches of `query` among the items S holds: [{kind, label, sub, position, ref}]. */
export function searchItems(S, query, limit = 12) {
  const q = fold(query);
  if (q.length < 2) return [];
  const words = q.split(" ");
  const hit = (text) => {
    const f = fold(text);
    return words.every((w) => f.includes(w));
  };
  const out = [];
  const seen = new Set();
  const add = (item) => {
    const key = `${item.kind}:${item.label}`;
    if (!seen.has(key) && out.length < limit * 4) {
      seen.add(key);
      out.push(item);
    }
  };
  for (const w of S.wards.values()) {
    if (hit(`${w.full_name ?? ""} ${w.name ?? ""} ${w.code}`)) add({ kind: "ward", label: S.wardName(w.code), sub: t("ward"), position: w.position, zoom: 14, ref: w });
  }
  for (const x of S.inc?.items.values() ?? []) {
    const title = getLang() === "en" ? x.title_en : x.title_vi;
    if (hit(`${x.title_vi} ${x.title_en} ${x.street} ${x.incident_id} ${S.wardName(x.ward_code)} ${x.category_vi} ${x.category_en}`)) {
      add({ kind: "incident", label: title, sub: `${x.street || S.wardName(x.ward_code)} · ${getLang() === "en" ? x.status_en : x.status_vi}`, position: x.position, zoom: 16, ref: x });
    }
  }
  for (const s of S.streets ?? []) {
    if (hit(s.name)) add({ kind: "street", label: s.name, sub: [t(s.bridge ? "bridge" : "street"), nameNote(s.source)].filter(Boolean).join(" · "), position: s.position, zoom: 16, ref: s });
  }
  for (const c of S.cameras) {
    if (hit(`${c.name ?? ""} ${c.camera_id}`)) add({ kind: "camera", label: c.name || c.camera_id, sub: `${c.camera_id} · ${t(`cam_${c.status}`)}`, position: c.position, zoom: 17, ref: c });
  }
  // Names that start with the query first, then the rest in the order above.
  const starts = (x) => (fold(x.label).startsWith(q) ? 0 : 1);
  return out.map((x, i) => [x, i]).sort((a, b) => starts(a[0]) - starts(b[0]) || a[1] - b[1]).map(([x]) => x).slice(0, limit);
}

/** Wire the search input and its result list; `onPick(item)` flies to / opens what was picked. */
export function bindSearch(S, input, list, onPick) {
  let results = [];
  let active = -1;
  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const draw = () => {
    if (!results.length) {
      list.innerHTML = input.value.trim().length >= 2 ? `<li class="muted" role="option" aria-disabled="true">${esc(t("search_none"))}</li>` : "";
      list.hidden = input.value.trim().length < 2;
    } else {
      list.innerHTML = results.map((r, i) => `<li id="sr-${i}" role="option" aria-selected="${i === active}" data-i="${i}" class="kind-${r.kind}">
        <span class="tag">${esc(t(`kind_${r.kind}`))}</span> <strong>${esc(r.label)}</strong> <span class="muted">${esc(r.sub ?? "")}</span></li>`).join("");
      list.hidden = false;
    }
    input.setAttribute("aria-expanded", String(!list.hidden));
    if (active >= 0) input.setAttribute("aria-activedescendant", `sr-${active}`);
    for (const li of list.querySelectorAll("[data-i]")) {
      li.onmousedown = (e) => {
        e.preventDefault(); // keep the focus in the input until the pick is done
        pick(Number(li.dataset.i));
      };
    }
  };
  const pick = (i) => {
    const r = results[i];
    if (!r) return;
    input.value = r.label;
    close();
    onPick(r);
  };
  input.addEventListener("input", () => {
    results = searchItems(S, input.value);
    active = results.length ? 0 : -1;
    draw();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!results.length) return;
      active = (active + (e.key === "ArrowDown" ? 1 : -1) + results.length) % results.length;
      draw();
    } else if (e.key === "Enter") {
      e.preventDefault();
      pick(active >= 0 ? active : 0);
    } else if (e.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}
