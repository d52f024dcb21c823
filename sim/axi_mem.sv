// AXI4 slave RAM for long simulations (no Python per cycle).
//
// - MEM_BYTES bytes, byte-addressed, DATA_WIDTH-bit words; INCR bursts of full-width beats (awsize/arsize are
//   taken as log2(DATA_WIDTH/8)), byte strobes honoured.
// - One read burst and one write burst at a time, each at one beat per cycle; the next AR/AW is accepted in the
//   cycle of the previous burst's last beat, so back-to-back bursts have no bubble.
// - Plusarg +MEM_LATENCY=<n>: n extra cycles between an AR/AW handshake and its first R beat / W acceptance.
// - An address at or above MEM_BYTES gets SLVERR (reads return 0, writes are dropped).
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
    input  logic [31:0]             dump_bytes
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

    // ---- read ---------------------------------------------------------------------------------------------
    logic r_active;
    logic [ADDR_WIDTH-1:0] r_word;
    logic [7:0] r_left;
    int r_wait;
    logic r_err;
    assign rvalid = r_active && r_wait == 0;
    assign rlast = r_left == 0;
    assign r_err = r_word >= ADDR_WIDTH'(WORDS);
    assign rresp = r_err ? 2'b10 : 2'b00;
    assign rdata = r_err ? '0 : mem[r_word[WA-1:0]];
    assign arready = !r_active || (rvalid && rready && rlast);
    always_ff @(posedge clk) begin
        if (rst) begin
            r_active <= 1'b0;
        end else begin
            if (r_active && r_wait != 0) r_wait <= r_wait - 1;
            if (rvalid && rready) begin
                r_word <= r_word + 1;
                r_left <= r_left - 8'd1;
                if (rlast) r_active <= 1'b0;
            end
            if (arvalid && arready) begin
                r_active <= 1'b1;
                r_word <= araddr / BEAT;
                r_left <= arlen;
                rid <= arid;
                r_wait <= latency;
            end
        end
    end

    // ---- write --------------------------------------------------------------------------------------------
    logic w_active;
    logic [ADDR_WIDTH-1:0] w_word;
    logic [ID_WIDTH-1:0] w_id;
    int w_wait;
    logic w_err;
    logic load_q, dump_q;
    assign wready = w_active && w_wait == 0;
    assign awready = (!w_active || (wvalid && wready && wlast)) && (!bvalid || bready);
    always_ff @(posedge clk) begin
        load_q <= load;
        dump_q <= dump;
        if (load && !load_q) $readmemh(init_file, mem);
        if (dump && !dump_q) $writememh(dump_file, mem, dump_addr / BEAT, (dump_addr + dump_bytes - 1) / BEAT);
        if (rst) begin
            w_active <= 1'b0;
            bvalid <= 1'b0;
        end else begin
            if (w_active && w_wait != 0) w_wait <= w_wait - 1;
            if (bvalid && bready) bvalid <= 1'b0;
            if (wvalid && wready) begin
                if (w_word < ADDR_WIDTH'(WORDS)) begin
                    for (int i = 0; i < BEAT; i++)
                        if (wstrb[i]) mem[w_word[WA-1:0]][8*i +: 8] <= wdata[8*i +: 8];
                end else begin
                    w_err <= 1'b1;
                end
                w_word <= w_word + 1;
                if (wlast) begin
                    w_active <= 1'b0;
                    bvalid <= 1'b1;
                    bid <= w_id;
                    bresp <= (w_err || w_word >= ADDR_WIDTH'(WORDS)) ? 2'b10 : 2'b00;
                end
            end
            if (awvalid && awready) begin
                w_active <= 1'b1;
                w_word <= awaddr / BEAT;
                w_id <= awid;
                w_err <= 1'b0;
                w_wait <= latency;
            end
        end
    end
endmodule
