// The calls page's detail panel and the dashboard's charts. The pages work without this file
// (filters, paging and export are plain forms and links); it adds what needs a script.
"use strict";

function jsonOf(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Only web links become links: a downloadUrl is data an API client wrote.
function safeUrl(text) {
  try {
    const url = new URL(text, window.location.href);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch (error) {
    return null;
  }
}

function fieldList(pairs) {
  const list = element("dl", { class: "fields" });
  for (const [name, value] of pairs) {
    list.append(element("dt", {}, name));
    list.append(element("dd", {}, value === "" ? "—" : String(value)));
  }
  return list;
}

function recordingsSection(record) {
  const section = element("section", { class: "recordings" });
  section.append(element("h3", {}, "Recordings"));
  section.append(fieldList([["isRecording", record.isRecording], ["hasAudioFile", record.hasAudioFile]]));
  const events = record.recordingEventList || [];
  if (events.length === 0) section.append(element("p", {}, "No recordings."));
  events.forEach((event, index) => {
    const block = element("div", { class: "event" });
    block.append(element("h4", {}, `Recording ${index + 1}`));
    block.append(fieldList(Object.entries(event).filter(([name]) => name !== "files")));
    const files = element("ul", { class: "files" });
    for (const file of event.files || []) {
      const item = element("li");
      const href = safeUrl(file.downloadUrl || "");
      const label = `${file.name || file.id || "file"} (${file.mimeType || "?"}, ${Math.round((file.duration || 0) / 1000)} s)`;
      if (href) {
        const link = element("a", { href: href, rel: "noopener noreferrer", target: "_blank" }, label);
        link.append(element("span", { class: "visually-hidden" }, " — download"));
        item.append(link);
      } else {
        item.textContent = label;
      }
      item.append(fieldList(Object.entries(file).filter(([name]) => name !== "downloadUrl")));
      files.append(item);
    }
    block.append(files);
    section.append(block);
  });
  return section;
}

function showDetail(record, groups, opener) {
  const dialog = document.getElementById("detail");
  const body = document.getElementById("detail-body");
  document.getElementById("detail-title").textContent = `Call ${record.id}`;
  body.replaceChildren();
  for (const [title, names] of groups) {
    if (title === "Recordings") {
      body.append(recordingsSection(record));
      continue;
    }
    const section = element("section");
    section.append(element("h3", {}, title));
    section.append(fieldList(names.map((name) => [name, record[name] ?? ""])));
    body.append(section);
  }
  dialog.returnFocusTo = opener;
  dialog.showModal();
  document.getElementById("detail-close").focus();
}

function setUpCalls() {
  const records = jsonOf("calls-data");
  const groups = jsonOf("field-groups");
  if (!records || !groups) return;
  const dialog = document.getElementById("detail");
  document.getElementById("detail-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.returnFocusTo && dialog.returnFocusTo.focus());
  document.querySelectorAll("button.open").forEach((button) => {
    button.addEventListener("click", () => showDetail(records[Number(button.dataset.index)], groups, button));
  });
  // A click anywhere on a row opens it too (the time's button is the keyboard's way in).
  document.querySelectorAll("table.calls tbody tr").forEach((row) => {
    row.addEventListener("click", (event) => {
      if (event.target.closest("button, a")) return;
      row.querySelector("button.open").click();
    });
  });
}

// The statuses' colours, as on the calls page's badges.
const STATUS_COLOURS = {
  "Call Ended": "#1a7f37", "Not Answered": "#d4a72c", "Busy": "#bf8700", "Abandoned": "#fb8f44",
  "Cancelled": "#8c959f", "Declined": "#cf222e", "Unreachable": "#a40e26", "Call Failed": "#6e7781",
};

function setUpDashboard() {
  const data = jsonOf("dashboard-data");
  if (!data || !window.Chart) return;
  const common = { responsive: true, maintainAspectRatio: false, animation: false };
  new window.Chart(document.getElementById("chart-calls"), {
    type: "bar",
    data: {
      labels: data.days,
      datasets: Object.entries(data.callsByStatus).map(([status, counts]) => ({
        label: status, data: counts, backgroundColor: STATUS_COLOURS[status] || "#57606a", stack: "calls",
      })),
    },
    options: { ...common, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
  });
  new window.Chart(document.getElementById("chart-quality"), {
    type: "line",
    data: {
      labels: data.days,
      datasets: [
        { label: "ASR (%)", data: data.asr, borderColor: "#0b5cad", backgroundColor: "#0b5cad", yAxisID: "asr" },
        { label: "ACD (s)", data: data.acd, borderColor: "#bc4c00", backgroundColor: "#bc4c00", yAxisID: "acd" },
      ],
    },
    options: {
      ...common,
      scales: {
        asr: { type: "linear", position: "left", min: 0, max: 100, title: { display: true, text: "ASR %" } },
        acd: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "ACD s" } },
      },
    },
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpCalls();
  setUpDashboard();
});
