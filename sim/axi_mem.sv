// AXI4 slave RAM for long simulations (no Python per cycle).
//
// - MEM_BYTES bytes, byte-addressed, DATA_WIDTH-bit words; INCR bursts of full-width beats (awsize/arsize are
//   taken as log2(DATA_WIDTH/8)), byte strobes honoured.
// - Up to 16 AR and 16 AW requests queued; bursts are served in order, one read and one write burst at a time,
//   at one beat per cycle, back to back without a bubble.
// - Plusarg +MEM_LATENCY=<n>: a burst's first R beat / W acceptance comes at the earliest 1 + n cycles after
//   its AR/AW handshake (2 + n to the first R beat); queued bursts wait concurrently (a pipelined memory).
// - An address at or above MEM_BYTES gets SLVERR (reads return 0, writes are dropped).
// - Injected faults (inputs, may change between programs): a beat whose byte address is in [fault_lo, fault_hi)
//   gets response fault_resp (2 SLVERR, 3 DECERR; 0 = no injection) on reads if fault_rd, on writes if fault_wr
//   (its data is dropped; the burst's BRESP carries the code). `fault` pulses with every error response.
// - Random stalls: with probability stall/256 per cycle each channel pauses: AR, AW and W drop READY; R and B
//   hold back VALID before it is shown (once shown, VALID stays until READY). xorshift32 per channel.
// - Plusarg +MEM_INIT=<file>: $readmemh of the word array at time 0, and again on each rising edge of `load`.
//   The file holds one DATA_WIDTH-bit hex word per line, `@<word index>` to skip (sim.tb_axi_harness writes it).
// - A rising edge of `dump` writes words [dump_addr/BEAT, (dump_addr+dump_bytes-1)/BEAT] to the file given by
//   +MEM_DUMP=<file> (default mem_dump.hex) with $writememh.
module axi_mem #(
    parameter int ADDR_WIDTH = 32,
    parameter int DATA_WIDTH = 128,
    parameter int ID_WIDTH = 4,
    parameter int MEM_BYTES = 16 * 1024 * 1024
) (
    input  logic                    clk,
    input  logic                    rst,
    input  logic [ID_WIDTH-1:0]     awid,
    input  logic [ADDR_WIDTH-1:0]   awaddr,
    input  logic [7:0]              awlen,
    input  logic                    awvalid,
    output logic                    awready,
    input  logic [DATA_WIDTH-1:0]   wdata,
    input  logic [DATA_WIDTH/8-1:0] wstrb,
    input  logic                    wlast,
    input  logic                    wvalid,
    output logic                    wready,
    output logic [ID_WIDTH-1:0]     bid,
    output logic [1:0]              bresp,
    output logic                    bvalid,
    input  logic                    bready,
    input  logic [ID_WIDTH-1:0]     arid,
    input  logic [ADDR_WIDTH-1:0]   araddr,
    input  logic [7:0]              arlen,
    input  logic                    arvalid,
    output logic                    arready,
    output logic [ID_WIDTH-1:0]     rid,
    output logic [DATA_WIDTH-1:0]   rdata,
    output logic [1:0]              rresp,
    output logic                    rlast,
    output logic                    rvalid,
    input  logic                    rready,
    input  logic                    load,
    input  logic                    dump,
    input  logic [31:0]             dump_addr,
    input  logic [31:0]             dump_bytes,
    input  logic [31:0]             fault_lo,
    input  logic [31:0]             fault_hi,
    input  logic [1:0]              fault_resp,
    input  logic                    fault_rd,
    input  logic                    fault_wr,
    input  logic [7:0]              stall,
    output logic                    fault
);
    localparam int BEAT = DATA_WIDTH / 8;
    localparam int WORDS = MEM_BYTES / BEAT;
    localparam int WA = $clog2(WORDS);

    logic [DATA_WIDTH-1:0] mem [WORDS];
    string init_file, dump_file;
    int latency;
    initial begin
        if (!$value$plusargs("MEM_LATENCY=%d", latency)) latency = 0;
        if ($value$plusargs("MEM_INIT=%s", init_file)) $readmemh(init_file, mem);
        if (!$value$plusargs("MEM_DUMP=%s", dump_file)) dump_file = "mem_dump.hex";
    end

    // Accepted AR/AW wait in a queue with the time they become due (now + latency): the latency of a burst
    // overlaps the data of the ones before it, as in a pipelined memory.
    localparam int QD = 16;
    longint now;
    always_ff @(posedge clk) now <= rst ? 64'd0 : now + 64'd1;

    // Random stalls: one xorshift32 per channel (AR, AW, W, R, B); a channel pauses when its low byte < stall.
    logic [31:0] rnd [5];
    logic [4:0] pause;
    always_ff @(posedge clk) begin
        for (int c = 0; c < 5; c++) begin
            logic [31:0] x;
            x = rst ? 32'h9E3779B9 * (c + 1) : rnd[c];
            x = x ^ (x << 13);
            x = x ^ (x >> 17);
            x = x ^ (x << 5);
            rnd[c] <= x;
        end
    end
    always_comb for (int c = 0; c < 5; c++) pause[c] = rnd[c][7:0] < stall;

    function automatic logic injected(logic [ADDR_WIDTH-1:0] word, logic enable);
        logic [63:0] a = 64'(word) * BEAT;
        return enable && fault_resp != 2'b00 && a >= 64'(fault_lo) && a < 64'(fault_hi);
    endfunction
    assign fault = (rvalid && rready && rresp != 2'b00) || (bvalid && bready && bresp != 2'b00);

    // ---- read ---------------------------------------------------------------------------------------------
    logic [ADDR_WIDTH-1:0] arq_addr [QD];
    logic [7:0] arq_len [QD];
    logic [ID_WIDTH-1:0] arq_id [QD];
    longint arq_due [QD];
    logic [4:0] arq_wp, arq_rp;
    logic r_active;
    logic [ADDR_WIDTH-1:0] r_word;
    logic [7:0] r_left;
    logic r_err, r_inj, r_take, r_shown;
    assign arready = (arq_wp - arq_rp) != 5'(QD) && !pause[0];
    assign r_take = arq_wp != arq_rp && arq_due[arq_rp[3:0]] <= now && (!r_active || (rvalid && rready && rlast));
    assign rvalid = r_active && (r_shown || !pause[3]);
    assign rlast = r_left == 0;
    assign r_err = r_word >= ADDR_WIDTH'(WORDS);
    assign r_inj = injected(r_word, fault_rd);
    assign rresp = r_err ? 2'b10 : r_inj ? fault_resp : 2'b00;
    assign rdata = (r_err || r_inj) ? '0 : mem[r_word[WA-1:0]];
    always_ff @(posedge clk) begin
        r_shown <= rvalid && !rready;
        if (rst) begin
            r_active <= 1'b0;
            arq_wp <= '0;
            arq_rp <= '0;
        end else begin
            if (arvalid && arready) begin
                arq_addr[arq_wp[3:0]] <= araddr;
                arq_len[arq_wp[3:0]] <= arlen;
                arq_id[arq_wp[3:0]] <= arid;
                arq_due[arq_wp[3:0]] <= now + longint'(latency);
                arq_wp <= arq_wp + 5'd1;
            end
            if (rvalid && rready) begin
                r_word <= r_word + 1;
                r_left <= r_left - 8'd1;
                if (rlast) r_active <= 1'b0;
            end
            if (r_take) begin
                r_active <= 1'b1;
                r_word <= arq_addr[arq_rp[3:0]] / BEAT;
                r_left <= arq_len[arq_rp[3:0]];
                rid <= arq_id[arq_rp[3:0]];
                arq_rp <= arq_rp + 5'd1;
            end
        end
    end

    // ---- write --------------------------------------------------------------------------------------------
    logic [ADDR_WIDTH-1:0] awq_addr [QD];
    logic [ID_WIDTH-1:0] awq_id [QD];
    longint awq_due [QD];
    logic [4:0] awq_wp, awq_rp;
    logic w_active, w_take, b_pend, b_shown, w_inj;
    logic [1:0] w_err;
    logic [ADDR_WIDTH-1:0] w_word;
    logic [ID_WIDTH-1:0] w_id;
    logic load_q, dump_q;
    assign awready = (awq_wp - awq_rp) != 5'(QD) && !pause[1];
    // One B register: the last beat of a burst waits while the previous B is still pending.
    assign wready = w_active && (!b_pend || (bvalid && bready)) && !pause[2];
    assign bvalid = b_pend && (b_shown || !pause[4]);
    assign w_inj = injected(w_word, fault_wr);
    assign w_take = awq_wp != awq_rp && awq_due[awq_rp[3:0]] <= now && (!w_active || (wvalid && wready && wlast));
    always_ff @(posedge clk) begin
        load_q <= load;
        dump_q <= dump;
        if (load && !load_q) $readmemh(init_file, mem);
        if (dump && !dump_q) $writememh(dump_file, mem, dump_addr / BEAT, (dump_addr + dump_bytes - 1) / BEAT);
        b_shown <= bvalid && !bready;
        if (rst) begin
            w_active <= 1'b0;
            b_pend <= 1'b0;
            awq_wp <= '0;
            awq_rp <= '0;
        end else begin
            if (awvalid && awready) begin
                awq_addr[awq_wp[3:0]] <= awaddr;
                awq_id[awq_wp[3:0]] <= awid;
                awq_due[awq_wp[3:0]] <= now + longint'(latency);
                awq_wp <= awq_wp + 5'd1;
            end
            if (bvalid && bready) b_pend <= 1'b0;
            if (wvalid && wready) begin
                // the burst's response: SLVERR beyond the memory, else the first injected code, else OKAY
                logic [1:0] e;
                e = w_word >= ADDR_WIDTH'(WORDS) ? 2'b10 : w_err != 2'b00 ? w_err : w_inj ? fault_resp : 2'b00;
                if (w_word < ADDR_WIDTH'(WORDS) && !w_inj) begin
                    for (int i = 0; i < BEAT; i++)
                        if (wstrb[i]) mem[w_word[WA-1:0]][8*i +: 8] <= wdata[8*i +: 8];
                end
                w_err <= e;
                w_word <= w_word + 1;
                if (wlast) begin
                    w_active <= 1'b0;
                    b_pend <= 1'b1;
                    bid <= w_id;
                    bresp <= e;
                end
            end
            if (w_take) begin
                w_active <= 1'b1;
                w_word <= awq_addr[awq_rp[3:0]] / BEAT;
                w_id <= awq_id[awq_rp[3:0]];
                w_err <= 2'b00;
                awq_rp <= awq_rp + 5'd1;
            end
        end
    end
endmodule
